"""Every persona through every operation of the JSON interface, against the real mock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import GatewayServer, MockServer
from tests.integration.personas import FOUND, HERMANN, PERSONAS, WITH_CARD, Expected

pytestmark = pytest.mark.integration
NIR_OID = "1.2.250.1.213.1.4.8"


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.id)
def test_search_by_traits(gateway: GatewayServer, persona: Expected) -> None:
    answer = gateway.post("/v1/ins/search", persona.traits()).json()

    if persona.matricule is None:
        assert (answer["status"], answer["ins"], answer["identity_status"]) == (
            "not_found",
            None,
            None,
        )
        return
    assert answer["status"] == "found"
    assert (answer["ins"]["matricule"], answer["ins"]["key"]) == (persona.matricule, persona.key)
    assert answer["ins"]["oid"] == persona.oid
    assert answer["ins"]["kind"] == ("NIA" if persona.oid.endswith(".9") else "NIR")
    assert answer["ins"]["key_valid"] is True
    assert answer["identity"]["first_names"] == list(persona.first_names)
    assert answer["identity"]["first_name"] == persona.first_names[0]
    assert answer["identity"]["birth_date"] == persona.birth_date
    assert answer["identity_status"] == "RECUP"
    assert {(h["matricule"], h["key"]) for h in answer["history"]} == set(persona.history)


@pytest.mark.parametrize("persona", WITH_CARD, ids=lambda p: p.id)
def test_search_by_vitale_card(gateway: GatewayServer, persona: Expected) -> None:
    assert persona.card is not None
    card = {**persona.card, "birth_name": persona.birth_name, "birth_date": persona.birth_date}

    answer = gateway.post("/v1/ins/search/vitale", card).json()

    assert answer["status"] == "found", answer
    assert (answer["ins"]["matricule"], answer["ins"]["key"]) == (persona.matricule, persona.key)
    assert "attempts" not in answer


def test_vitale_card_of_nobody_is_not_found(gateway: GatewayServer) -> None:
    card = {
        "holder_matricule": "178056322045760",
        "birth_rank": "1",
        "birth_name": "NESSI",
        "birth_date": "2010-08-07",
    }  # right holder, wrong rank

    assert gateway.post("/v1/ins/search/vitale", card).json()["status"] == "not_found"


@pytest.mark.parametrize("persona", FOUND, ids=lambda p: p.id)
def test_verify_the_right_ins(gateway: GatewayServer, persona: Expected) -> None:
    held = {
        "ins": {"matricule": persona.matricule, "key": persona.key, "oid": persona.oid},
        **persona.traits(),
    }

    answer = gateway.post("/v1/ins/verify", held).json()

    assert (answer["verdict"], answer["differences"]) == ("verified", [])


def test_verify_an_old_ins_is_superseded(gateway: GatewayServer) -> None:
    ecetinsi = next(p for p in PERSONAS if p.history)
    old_matricule, old_key = ecetinsi.history[0]
    held = {
        "ins": {"matricule": old_matricule, "key": old_key, "oid": ecetinsi.oid},
        **ecetinsi.traits(),
    }

    answer = gateway.post("/v1/ins/verify", held).json()

    assert answer["verdict"] == "superseded"
    assert answer["ins"]["matricule"] == ecetinsi.matricule


def test_verify_with_extra_first_name_lists_the_difference(gateway: GatewayServer) -> None:
    tchitchi = next(p for p in PERSONAS if p.birth_name == "TCHITCHI")
    held = {
        "ins": {"matricule": tchitchi.matricule, "key": tchitchi.key, "oid": tchitchi.oid},
        **tchitchi.traits(),
        "first_names": ["OLA", "CATARINA", "BELLA"],
    }

    answer = gateway.post("/v1/ins/verify", held).json()

    assert answer["verdict"] == "mismatch"
    assert answer["differences"] == [
        {
            "field": "first_names",
            "given": ["OLA", "CATARINA", "BELLA"],
            "official": ["CATARINA", "BELLA"],
        }
    ]


def test_verify_another_persons_ins_is_a_mismatch_on_ins(gateway: GatewayServer) -> None:
    zoe, dominique = FOUND[2], FOUND[0]
    held = {
        "ins": {"matricule": dominique.matricule, "key": dominique.key, "oid": NIR_OID},
        **zoe.traits(),
    }

    answer = gateway.post("/v1/ins/verify", held).json()

    assert answer["verdict"] == "mismatch"
    assert answer["differences"][0]["field"] == "ins"
    assert answer["differences"][0]["official"]["matricule"] == zoe.matricule


def test_verify_unknown_and_ambiguous(gateway: GatewayServer) -> None:
    houilles = next(p for p in PERSONAS if p.matricule is None)
    fake_ins = {"matricule": "1930163220999", "key": "77", "oid": NIR_OID}
    de_vinci = {
        "birth_name": "DE VINCI",
        "first_names": ["LEONARDO"],
        "sex": "M",
        "birth_date": "2014-02-01",
    }

    unknown = gateway.post("/v1/ins/verify", {"ins": fake_ins, **houilles.traits()}).json()
    ambiguous = gateway.post("/v1/ins/verify", {"ins": fake_ins, **de_vinci}).json()

    assert unknown["verdict"] == "not_found"
    assert ambiguous["verdict"] == "multiple"
    assert "birth place" in ambiguous["hint"]


def test_verify_batch_answers_each_item(gateway: GatewayServer) -> None:
    good = [
        {"ins": {"matricule": p.matricule, "key": p.key, "oid": p.oid}, **p.traits()}
        for p in FOUND[:3]
    ]
    bad = {**good[0], "birth_date": "2023-02-30"}

    results = gateway.post("/v1/ins/verify", [*good, bad]).json()["results"]

    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r.get("verdict") for r in results] == ["verified", "verified", "verified", None]
    assert results[3]["error"]["field"] == "birth_date"


def test_verify_batch_over_100_is_refused(gateway: GatewayServer) -> None:
    item = {
        "ins": {"matricule": "297022A020778", "key": "78", "oid": NIR_OID},
        **PERSONAS[0].traits(),
    }

    response = gateway.post("/v1/ins/verify", [item] * 101)

    assert response.status_code == 400
    assert response.json()["field"] == "body"


def test_first_name_strategy_finds_tchitchi_on_the_second_attempt(
    gateway: GatewayServer,
) -> None:
    tchitchi = {
        "birth_name": "TCHITCHI",
        "first_names": ["OLA", "CATARINA", "BELLA"],
        "sex": "F",
        "birth_date": "1936-06-21",
    }

    answer = gateway.post("/v1/ins/search", tchitchi).json()

    assert answer["status"] == "found"
    assert [(a["first_names"], a["code"]) for a in answer["attempts"]] == [
        ("OLA", "01"),
        ("CATARINA", "00"),
    ]
    assert len({a["message_id"] for a in answer["attempts"]}) == 2


def test_first_name_strategy_gives_up_on_houilles_after_four_attempts(
    gateway: GatewayServer, mock_server: MockServer
) -> None:
    houilles = {**PERSONAS[8].traits(), "birth_name": "HOUILLES"}

    answer = gateway.post("/v1/ins/search", houilles, headers={"X-Request-ID": "houilles-4"}).json()

    assert answer["status"] == "not_found"
    assert [a["first_names"] for a in answer["attempts"]] == [
        "PIERRE",
        "PAUL",
        "JACQUES",
        "PIERRE PAUL JACQUES",
    ]
    sent = {a["message_id"] for a in answer["attempts"]}
    logged = {r["message_id"] for r in mock_server.logged_requests()}
    assert sent <= logged  # the four calls really reached the teleservice


def test_multiple_stops_the_strategy_with_a_hint(gateway: GatewayServer) -> None:
    de_vinci = {
        "birth_name": "DE VINCI",
        "first_names": ["LEONARDO", "PIERO"],
        "sex": "M",
        "birth_date": "2014-02-01",
    }

    answer = gateway.post("/v1/ins/search", de_vinci).json()

    # CR 02 on LEONARDO is refined once with the whole list; nobody is LEONARDO PIERO
    # (CR 01), so several identities still match what the caller holds: multiple.
    assert answer["status"] == "multiple"
    assert [(a["first_names"], a["code"]) for a in answer["attempts"]] == [
        ("LEONARDO", "02"),
        ("LEONARDO PIERO", "01"),
    ]
    assert answer["message_id"] == answer["attempts"][0]["message_id"]  # the answer given
    assert answer["hint"]


def test_history_does_not_repeat_the_active_ins(gateway: GatewayServer) -> None:
    # CNDA test 2.08: the teleservice's answer repeats the active INS in its history
    assert HERMANN.history[0] == (HERMANN.matricule, HERMANN.key)

    answer = gateway.post("/v1/ins/search", HERMANN.traits()).json()

    assert [(h["matricule"], h["key"]) for h in answer["history"]] == [HERMANN.history[1]]
    # its recorded keys fail the 97-mod rule: returned as given, flagged (ins-rules.md)
    assert (answer["ins"]["key"], answer["ins"]["key_valid"]) == (HERMANN.key, False)


def test_a_key_failing_the_check_is_returned_flagged_and_logged(gateway: GatewayServer) -> None:
    jeanne = {
        "birth_name": "CLEFAUSSE",
        "first_names": ["JEANNE"],
        "sex": "F",
        "birth_date": "1985-05-05",
    }

    answer = gateway.post("/v1/ins/search", jeanne, headers={"X-Request-ID": "bad-key"}).json()

    assert answer["status"] == "found"
    assert answer["ins"]["key_valid"] is False
    warnings = [
        json.loads(line)
        for line in gateway.process.output().splitlines()
        if '"WARNING"' in line and "key does not verify" in line
    ]
    assert warnings


@pytest.mark.parametrize("flag", ["douteuse", "fictive"])
def test_doubtful_or_fictitious_identity_is_never_sent(
    gateway: GatewayServer, mock_server: MockServer, flag: str
) -> None:
    before = len(mock_server.logged_requests())

    response = gateway.post("/v1/ins/search", {**PERSONAS[0].traits(), "flags": [flag]})

    assert response.status_code == 422
    assert response.json()["type"] == "urn:insi-gateway:problem:identity-not-eligible"
    assert len(mock_server.logged_requests()) == before


def test_fhir_patient_follows_fr_core_patient_ins(gateway: GatewayServer) -> None:
    """A RECUP identity over HTTP: the Patient FR Core allows, without INS (docs/fhir.md).

    Until the application can attest an identity document (issue 16), no live answer is
    QUAL: the INS itself is tested on QUAL answers in tests/unit/test_fhir.py.
    """
    lunaire = _persona("LUNAIRE")

    response = gateway.post("/v1/ins/search", lunaire.traits(), headers=FHIR)

    assert response.headers["Content-Type"].startswith("application/fhir+json")
    assert response.headers["X-INS-Status"] == "RECUP"
    patient, outcome = _searchset(response.json())
    assert patient is not None
    assert "identifier" not in patient
    assert patient["meta"]["profile"] == [f"{FR_CORE}/fr-core-patient"]
    assert _reliability(patient)["identityStatus"] == "RECUP"
    (name,) = patient["name"]
    assert (name["use"], name["family"], name["given"]) == ("official", "LUNAIRE", ["MARIE"])
    assert [e["valueString"] for e in name["extension"]] == [" ".join(lunaire.first_names)]
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1950"  # lunar 1950-00-00: FHIR partial date...
    lunar = next(e for e in patient["extension"] if e["url"] == f"{FR_CORE}/fr-core-lunar-date")
    assert lunar["valueString"] == "1950-00-00"  # ...and its INS form in FR Core's extension
    birth_place = next(e for e in patient["extension"] if e["url"].endswith("patient-birthPlace"))
    assert birth_place["valueAddress"]["extension"][0]["valueCoding"]["code"] == "99350"
    assert outcome[0]["details"]["text"] == "RECUP"


FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition"
FHIR = {"Accept": "application/fhir+json"}


def _persona(birth_name: str) -> Expected:
    return next(p for p in PERSONAS if p.birth_name == birth_name)


def _searchset(bundle: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The Patient (None if none) and the outcome's issues of a FHIR searchset Bundle."""
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    modes = {e["search"]["mode"]: e["resource"] for e in bundle["entry"]}
    return modes.get("match"), modes["outcome"]["issue"]


def _reliability(patient: dict[str, Any]) -> dict[str, str]:
    (reliability,) = [e for e in patient["extension"] if e["url"].endswith("identity-reliability")]
    return {p["url"]: p.get("valueCoding", {}).get("code") for p in reliability["extension"]}


def test_fhir_recup_identities_carry_no_ins(gateway: GatewayServer) -> None:
    """FR Core: the INS only for a qualified identity; a RECUP NIA or NIR has none."""
    for persona in (_persona("PROVISOIRE"), _persona("ECETINSI")):
        response = gateway.post("/v1/ins/search", persona.traits(), headers=FHIR)

        assert response.headers["X-INS-Status"] == "RECUP"
        patient, _ = _searchset(response.json())
        assert patient is not None
        assert "identifier" not in patient
        assert persona.matricule
        assert persona.matricule not in response.text
        assert all(number not in response.text for number, _ in persona.history)
        (name,) = patient["name"]
        assert name["given"] == [persona.first_names[0]]
        assert name["extension"][0]["valueString"] == " ".join(persona.first_names)


def test_fhir_identity_to_check_gives_its_differences_and_no_patient(
    gateway: GatewayServer,
) -> None:
    """Traits differing from the official ones: no Patient, the differences (docs/fhir.md)."""
    tchitchi = _persona("TCHITCHI")
    body = {**tchitchi.traits(), "first_names": ["OLA", *tchitchi.first_names]}

    response = gateway.post("/v1/ins/search", body, headers=FHIR)

    assert response.headers["X-INS-Status"] == "CHECK_REQUIRED"
    patient, issues = _searchset(response.json())
    assert patient is None
    assert tchitchi.matricule
    assert tchitchi.matricule not in response.text
    assert issues[0]["details"]["text"] == "CHECK_REQUIRED"
    (first_names,) = [i for i in issues if i["details"]["text"] == "difference: first_names"]
    assert " ".join(tchitchi.first_names) in first_names["diagnostics"]
    assert " ".join(["OLA", *tchitchi.first_names]) in first_names["diagnostics"]
