"""The OpenAPI document against the real gateway: what it serves, and what it really answers.

Each operation is called for real (gateway and mock under gunicorn, mutual
TLS, loopback); the request body and the answer are validated against the
document's own schemas (JSON Schema 2020-12, ``$ref`` resolved in the
document). Expected values come from the mock's persona table and the INS
rules, not from the gateway's code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate

from gateway.mock.personas import PERSONAS, Persona
from tests.integration.conftest import GatewayServer, MockServer
from tests.unit.test_openapi_document import (
    DOCUMENT,
    HTTP_METHODS,
    INS_OIDS,
    OPENAPI,
    ROUTES,
    answer_validator,
    errors,
    ins_key,
    progressive_attempts,
    request_validator,
)

pytestmark = pytest.mark.integration

SEARCH, VITALE, VERIFY = "/v1/ins/search", "/v1/ins/search/vitale", "/v1/ins/verify"
JSON, PROBLEM_JSON, FHIR_JSON = (
    "application/json",
    "application/problem+json",
    "application/fhir+json",
)
PROBLEM = "urn:insi-gateway:problem:"
RECUP = "RECUP"  # RNIV: an identity obtained from the teleservice is "récupérée"
CHECK_REQUIRED = "CHECK_REQUIRED"  # ... but not when its traits differ from the held ones


def persona(birth_name: str, first_name: str) -> Persona:
    (found,) = [p for p in PERSONAS if p.birth_name == birth_name and first_name in p.first_names]
    return found


def traits(p: Persona, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "birth_name": p.birth_name,
        "first_names": list(p.first_names),
        "sex": p.sex,
        "birth_date": p.birth_date,
        "birth_place": p.birth_place,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def held_ins(p: Persona) -> dict[str, str]:
    assert p.active is not None
    return {"matricule": p.active.matricule, "key": p.active.key, "oid": p.active.oid}


ADRTROIS = persona("ADRTROIS", "DOMINIQUE")
TCHITCHI = persona("TCHITCHI", "CATARINA")
HOUILLES = persona("HOUILLES", "PIERRE")


def call(
    gateway: GatewayServer, path: str, body: Any, status: int, media_type: str = JSON, **kw: Any
) -> Any:
    """POST ``body`` (valid by the request schema); the answer, checked against the document."""
    assert not errors(request_validator(path), body)
    response = gateway.post(path, body, **kw)
    return checked(response, path, status, media_type)


def checked(response: requests.Response, path: str, status: int, media_type: str) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].split(";")[0] == media_type
    assert response.headers["X-Request-ID"]
    answer = response.json()
    assert not errors(answer_validator(path, status, media_type), answer)
    return answer


def assert_official(answer: dict[str, Any], p: Persona, status: str = RECUP) -> None:
    """The answer's INS and identity are the persona's, as the INS rules describe them."""
    assert p.active is not None
    ins = answer["ins"]
    assert (ins["matricule"], ins["key"], ins["oid"]) == (
        p.active.matricule,
        p.active.key,
        p.active.oid,
    )
    assert (ins["kind"], ins["test"], ins["oid_kind"]) == INS_OIDS[p.active.oid]
    assert ins["key"] == ins_key(ins["matricule"])  # 97-mod, 2A/2B counting 19/18
    assert ins["key_valid"] is True
    identity = answer["identity"]
    assert identity["birth_name"] == p.birth_name
    assert identity["first_names"] == list(p.first_names)
    assert (identity["sex"], identity["birth_date"]) == (p.sex, p.birth_date)
    assert identity["birth_place"] == p.birth_place
    assert identity["first_name"] == p.first_names[0]
    assert answer["identity_status"] == status
    complete = answer["differences"] == [] and answer["unchecked_traits"] == []
    assert complete == (status in (RECUP, "QUAL"))


# --- the document itself -------------------------------------------------------------------


def test_served_document_is_the_repository_file(gateway: GatewayServer) -> None:
    response = gateway.session.get(
        gateway.base_url + "/openapi.json", verify=str(gateway.ca_bundle), timeout=30
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == JSON
    assert response.content == OPENAPI.read_bytes()
    served = response.json()
    assert served == DOCUMENT
    validate(served)


def test_documented_paths_answer_and_others_do_not(gateway: GatewayServer) -> None:
    def answer(method: str, path: str) -> requests.Response:
        # No API key: a secured route refuses (401, or a SOAP fault), a missing one says 404.
        return gateway.session.request(
            method,
            gateway.base_url + path,
            verify=str(gateway.ca_bundle),
            timeout=30,
            allow_redirects=False,  # the page's 303 to its login form is the answer
        )

    documented = {
        (path, method)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert documented == ROUTES  # what json_api, jobs_api, vigilance_api/_pages, app register
    for path, method in sorted(documented):
        operation = DOCUMENT["paths"][path][method]
        url = path.replace("{job_id}", "0" * 32).replace("{event_id}", "1")
        if any(p.get("name") == "wsdl" for p in operation.get("parameters", [])):
            url += "?wsdl"
        status = answer(method.upper(), url).status_code
        assert status != 404 or "404" in operation["responses"], f"{method.upper()} {path}"
        assert str(status) in operation["responses"], f"{method.upper()} {path}: {status}"
        if path.startswith("/v1/"):
            assert status == 401, f"{method.upper()} {path}"
        elif operation.get("security") == [] and method == "get":  # a login POST needs a form
            assert status == 200, f"{method.upper()} {path}"
    missing = answer("POST", "/v1/ins/unknown")
    assert missing.status_code == 404
    assert missing.json()["type"] == PROBLEM + "http-404"


# --- POST /v1/ins/search ---------------------------------------------------------------------


def test_search_found(gateway: GatewayServer) -> None:
    answer = call(gateway, SEARCH, traits(ADRTROIS), 200, headers={"X-Request-ID": "oas-found"})

    assert (answer["status"], answer["code"]) == ("found", "00")
    assert_official(answer, ADRTROIS)
    assert answer["ins"]["key"] == ins_key("297022A020778") == "78"  # 2A counts as 19
    assert answer["request_id"] == "oas-found"
    assert [a["first_names"] for a in answer["attempts"]] == ["DOMINIQUE"]
    assert "hint" not in answer
    queried_at = datetime.fromisoformat(answer["queried_at"])
    assert answer["queried_at"].endswith("Z")
    assert abs(datetime.now(UTC) - queried_at) < timedelta(minutes=10)  # loaded CI machines


def test_search_found_at_the_second_attempt(gateway: GatewayServer) -> None:
    # The local record holds an extra first name before the official ones.
    body = traits(TCHITCHI, first_names=["OLA", *TCHITCHI.first_names])

    answer = call(gateway, SEARCH, body, 200)

    assert answer["status"] == "found"
    # The held first names are not the official ones: a user must check the identity.
    assert_official(answer, TCHITCHI, status=CHECK_REQUIRED)
    assert answer["differences"] == [
        {
            "field": "first_names",
            "given": ["OLA", "CATARINA", "BELLA"],
            "official": ["CATARINA", "BELLA"],
        }
    ]
    assert answer["sent"]["first_names"] == ["OLA", "CATARINA", "BELLA"]
    assert [(a["first_names"], a["code"]) for a in answer["attempts"]] == [
        ("OLA", "01"),
        ("CATARINA", "00"),
    ]
    assert answer["message_id"] == answer["attempts"][-1]["message_id"]


def test_search_not_found_lists_every_attempt(gateway: GatewayServer) -> None:
    answer = call(gateway, SEARCH, traits(HOUILLES), 200)

    assert (answer["status"], answer["code"]) == ("not_found", "01")
    assert (answer["ins"], answer["identity"], answer["identity_status"]) == (None, None, None)
    expected = progressive_attempts(list(HOUILLES.first_names))
    assert expected == ["PIERRE", "PAUL", "JACQUES", "PIERRE PAUL JACQUES"]
    assert [a["first_names"] for a in answer["attempts"]] == expected
    assert {a["code"] for a in answer["attempts"]} == {"01"}
    assert len({a["message_id"] for a in answer["attempts"]}) == len(expected)


def test_search_multiple_gives_the_hint(gateway: GatewayServer) -> None:
    homonyms = [p for p in PERSONAS if p.birth_name == "DE VINCI"]
    assert len(homonyms) == 2
    body = traits(homonyms[0], birth_place=None)

    answer = call(gateway, SEARCH, body, 200)

    assert (answer["status"], answer["code"]) == ("multiple", "02")
    assert (answer["ins"], answer["identity"], answer["identity_status"]) == (None, None, None)
    assert "birth place" in answer["hint"]
    assert answer["sent"]["birth_place"] is None


def test_search_as_fhir_patient(gateway: GatewayServer) -> None:
    """A RECUP identity: a searchset Bundle, its Patient without INS (docs/fhir.md)."""
    response = gateway.post(SEARCH, traits(ADRTROIS), headers={"Accept": FHIR_JSON})

    bundle = checked(response, SEARCH, 200, FHIR_JSON)
    assert response.headers["X-INS-Status"] == "RECUP"
    patient = fhir_patient(bundle)
    assert ADRTROIS.active is not None
    assert "identifier" not in patient
    assert ADRTROIS.active.matricule not in response.text
    assert patient["gender"] == "female"
    assert patient["birthDate"] == ADRTROIS.birth_date


def fhir_patient(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Patient of a searchset Bundle (a RECUP identity)."""
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    (patient,) = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert patient["resourceType"] == "Patient"
    return dict(patient)


def test_lunar_birth_date_is_kept_and_reduced_for_fhir(gateway: GatewayServer) -> None:
    lunaire = persona("LUNAIRE", "MARIE")
    assert lunaire.birth_date == "1950-00-00"  # month and day unknown

    answer = call(gateway, SEARCH, traits(lunaire), 200)
    fhir = gateway.post(SEARCH, traits(lunaire), headers={"Accept": FHIR_JSON})

    assert_official(answer, lunaire)
    assert answer["sent"]["birth_date"] == answer["identity"]["birth_date"] == "1950-00-00"
    patient = fhir_patient(checked(fhir, SEARCH, 200, FHIR_JSON))
    assert patient["birthDate"] == "1950"  # FHIR partial date
    lunar = [e["valueString"] for e in patient["extension"] if e["url"].endswith("lunar-date")]
    assert lunar == ["1950-00-00"]  # the INS form, in FR Core's lunar-date extension


def test_key_failing_the_97_rule_is_returned_but_flagged(gateway: GatewayServer) -> None:
    clefausse = persona("CLEFAUSSE", "JEANNE")
    assert clefausse.active is not None
    assert clefausse.active.key != ins_key(clefausse.active.matricule)

    answer = call(gateway, SEARCH, traits(clefausse), 200)

    assert (answer["ins"]["matricule"], answer["ins"]["key"]) == (
        clefausse.active.matricule,
        clefausse.active.key,
    )
    assert answer["ins"]["key_valid"] is False


def test_history_repeating_the_active_ins_is_dropped(gateway: GatewayServer) -> None:
    # HERMANN GATIEN (CNDA test 2.08): the recorded answer repeats the active INS first
    hermann = persona("HERMANN", "GATIEN")
    assert hermann.active is not None
    repeated, former = hermann.history
    assert (repeated.matricule, repeated.key) == (hermann.active.matricule, hermann.active.key)

    answer = call(gateway, SEARCH, traits(hermann), 200)

    assert answer["ins"]["matricule"] == hermann.active.matricule
    assert [(h["matricule"], h["key"]) for h in answer["history"]] == [
        (former.matricule, former.key)
    ]


# --- POST /v1/ins/search/vitale --------------------------------------------------------------


def test_vitale_found(gateway: GatewayServer) -> None:
    (card,) = ADRTROIS.vitale_cards
    body = {
        "beneficiary_matricule": card.holder_matricule + card.holder_key,
        "birth_name": ADRTROIS.birth_name,
        "birth_date": ADRTROIS.birth_date,
        "birth_rank": str(card.rank),
    }
    assert body["beneficiary_matricule"] == "297022A02077878"

    answer = call(gateway, VITALE, body, 200)

    assert answer["status"] == "found"
    # Issue 16: the card is a key, not the person at the desk: nothing was compared.
    assert_official(answer, ADRTROIS, status="CHECK_REQUIRED")
    assert answer["unchecked_traits"] == [
        "birth_name", "first_names", "sex", "birth_date", "birth_place"
    ]  # fmt: skip
    assert answer["sent"]["beneficiary_matricule"] == "297022A02077878"
    assert answer["sent"]["holder_matricule"] is None
    assert "attempts" not in answer  # one call, no first-name strategy


# --- POST /v1/ins/verify ---------------------------------------------------------------------


def test_verify_verified(gateway: GatewayServer) -> None:
    body = {"ins": held_ins(ADRTROIS), **traits(ADRTROIS)}

    answer = call(gateway, VERIFY, body, 200)

    assert answer["verdict"] == "verified"
    assert answer["differences"] == []
    assert answer["hint"] is None
    assert_official(answer, ADRTROIS)


def test_verify_of_an_ins_whose_key_fails_the_97_rule_as_the_teleservice_gave_it(
    gateway: GatewayServer,
) -> None:
    """The teleservice is the authority: the INS it returned may be verified as held."""
    clefausse = persona("CLEFAUSSE", "JEANNE")
    assert clefausse.active is not None
    assert clefausse.active.key != ins_key(clefausse.active.matricule)

    answer = call(gateway, VERIFY, {"ins": held_ins(clefausse), **traits(clefausse)}, 200)

    assert (answer["verdict"], answer["identity_status"]) == ("verified", RECUP)
    assert answer["ins"]["key_valid"] is False


def test_verify_batch_answers_each_item(gateway: GatewayServer) -> None:
    adrun = persona("ADRUN", "ZOE")
    impossible = {"ins": held_ins(adrun), **traits(adrun, birth_date="1975-02-31")}
    body = [{"ins": held_ins(ADRTROIS), **traits(ADRTROIS)}, impossible]

    answer = call(gateway, VERIFY, body, 200, headers={"X-Request-ID": "oas-batch"})

    first, second = answer["results"]
    assert (first["index"], first["verdict"], first["request_id"]) == (0, "verified", "oas-batch#0")
    assert_official(first, ADRTROIS)
    assert second["index"] == 1
    assert "verdict" not in second
    error = second["error"]
    assert (error["type"], error["status"], error["field"]) == (
        PROBLEM + "invalid-input",
        400,
        "birth_date",
    )
    assert error["request_id"] == "oas-batch#1"


# --- problems --------------------------------------------------------------------------------


def test_invalid_field_is_the_documented_400(gateway: GatewayServer) -> None:
    body = traits(ADRTROIS, birth_place="2C020")  # no department 2C: not a COG code
    assert errors(request_validator(SEARCH), body), "the document refuses it too"

    problem = checked(gateway.post(SEARCH, body), SEARCH, 400, PROBLEM_JSON)

    assert problem["type"] == PROBLEM + "invalid-input"
    assert problem["field"] == "birth_place"
    assert "2C020" not in problem["detail"]


def test_wrong_api_key_is_the_documented_401(gateway: GatewayServer) -> None:
    problem = checked(
        gateway.post(VERIFY, {"ins": held_ins(ADRTROIS), **traits(ADRTROIS)}, key="wrong"),
        VERIFY,
        401,
        PROBLEM_JSON,
    )

    assert problem["type"] == PROBLEM + "unauthorized"


def test_fictive_identity_is_the_documented_422_and_not_sent(
    gateway: GatewayServer, mock_server: MockServer
) -> None:
    body = traits(ADRTROIS, flags=["fictive"])
    calls_before = len(mock_server.logged_requests())

    problem = call(gateway, SEARCH, body, 422, PROBLEM_JSON)

    assert problem["type"] == PROBLEM + "identity-not-eligible"
    assert problem["flags"] == ["fictive"]
    assert len(mock_server.logged_requests()) == calls_before


def test_homonym_flag_does_not_block(gateway: GatewayServer) -> None:
    answer = call(gateway, SEARCH, traits(ADRTROIS, flags=["homonyme"]), 200)

    assert answer["status"] == "found"


def test_oversized_body_is_the_documented_413(gateway: GatewayServer) -> None:
    body = json.dumps(traits(ADRTROIS, birth_name="A" * 70_000)).encode()  # default cap: 64 KiB

    response = gateway.post(SEARCH, data=body, headers={"Content-Type": JSON})

    problem = checked(response, SEARCH, 413, PROBLEM_JSON)
    assert problem["type"] == PROBLEM + "http-413"
