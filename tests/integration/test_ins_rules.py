"""Issue 8 over the real servers: search strategy, answers of real shape, matricules, characters.

Gateway and mock under gunicorn, mutual TLS, loopback. Expected values come
from the tests' own persona table (``tests/integration/personas.py``) and the
INS rules, not from the gateway's code.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import GatewayServer
from tests.integration.personas import DEMO_NIR, PERSONAS, Expected

pytestmark = pytest.mark.integration
SEARCH = "/v1/ins/search"
PROBLEM = "urn:insi-gateway:problem:"


def _persona(birth_name: str, *first_names: str) -> Expected:
    (found,) = [
        p
        for p in PERSONAS
        if p.birth_name == birth_name and p.first_names[: len(first_names)] == first_names
    ]
    return found


def _attempts(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["first_names"], a["code"]) for a in answer["attempts"]]


@pytest.mark.parametrize("second", ["CLAIRE", "ANNE"])
def test_twins_sharing_a_first_name_are_found_with_the_full_list(
    gateway: GatewayServer, second: str
) -> None:
    """CR 02 on MARIE alone: the whole list is sent before answering ``multiple``."""
    twin = _persona("JUMELLES", "MARIE", second)

    answer = gateway.post(SEARCH, twin.traits()).json()

    assert (answer["status"], answer["ins"]["matricule"]) == ("found", twin.matricule)
    assert _attempts(answer) == [("MARIE", "02"), (f"MARIE {second}", "00")]
    assert answer["message_id"] == answer["attempts"][-1]["message_id"]
    assert answer["identity_status"] == "RECUP"


def test_a_cr_02_on_the_full_list_is_not_refined_again(gateway: GatewayServer) -> None:
    twin = _persona("JUMELLES", "MARIE", "CLAIRE")

    answer = gateway.post(SEARCH, {**twin.traits(), "first_names": ["MARIE"]}).json()

    assert (answer["status"], answer["ins"]) == ("multiple", None)
    assert _attempts(answer) == [("MARIE", "02")]
    assert "hint" in answer


def test_answer_without_prenom_gives_the_first_of_the_list(gateway: GatewayServer) -> None:
    ecetinsi = _persona("ECETINSI", "PIERRE-ALAIN")

    answer = gateway.post(SEARCH, ecetinsi.traits()).json()

    assert answer["identity"]["first_name"] == "PIERRE-ALAIN"
    assert answer["identity"]["first_names"] == ["PIERRE-ALAIN", "MURIEL", "FLORIANT"]
    assert answer["identity_status"] == "RECUP"


def test_former_ins_without_cle_is_kept_and_flagged(gateway: GatewayServer) -> None:
    louise = _persona("ANCIENCLE", "LOUISE")

    answer = gateway.post(SEARCH, louise.traits()).json()

    assert answer["status"] == "found"
    (former,) = answer["history"]
    assert (former["matricule"], former["key"], former["key_valid"]) == (
        louise.history[0][0],
        None,
        False,
    )


def test_demonstration_nir_is_a_nir_of_a_fictitious_patient(gateway: GatewayServer) -> None:
    paul = _persona("DEMONSTRATION", "PAUL")

    ins = gateway.post(SEARCH, paul.traits()).json()["ins"]

    assert (ins["oid"], ins["kind"], ins["test"], ins["oid_kind"]) == (
        DEMO_NIR,
        "NIR",
        True,
        "INS-NIR-DEMO",
    )
    assert ins["key_valid"] is True


def test_names_typed_with_hyphen_variants_and_transliterated_letters_are_found(
    gateway: GatewayServer,
) -> None:
    ecetinsi = _persona("ECETINSI", "PIERRE-ALAIN")
    typed = {**ecetinsi.traits(), "first_names": ["Pierre\u2011Alain", "Muriel", "Floriant"]}

    answer = gateway.post(SEARCH, typed).json()

    assert answer["sent"]["first_names"] == ["PIERRE-ALAIN", "MURIEL", "FLORIANT"]
    assert (answer["status"], answer["identity_status"]) == ("found", "RECUP")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("birth_name", "ĦADRTROIS", "'Ħ'"),
        ("first_names", ["DOMI\u2014NIQUE"], "'\u2014'"),
        ("birth_date", "1997-00-26", "month 00"),
    ],
)
def test_refusals_name_the_field_and_the_reason(
    gateway: GatewayServer, field: str, value: Any, named: str
) -> None:
    adrtrois = _persona("ADRTROIS", "DOMINIQUE")

    response = gateway.post(SEARCH, {**adrtrois.traits(), field: value})

    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM + "invalid-input"
    assert problem["field"].split("[")[0] == field
    assert named in problem["reason"]
