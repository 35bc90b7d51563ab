"""Issue 16, points 2, 3 and 5: a status never says more than was checked.

Expected values are written from the rules (RNIV volet 1 for the statuses and
the high-trust documents, FR Core's ``fr-core-cs-mode-validation-identity``
for the codes, ``INSi_RESULTAT_INS.xsd`` for a history entry without ``Cle``,
the INSEE COG for departments), never from the code's output.
"""

from __future__ import annotations

import dataclasses

import pytest

from gateway.exceptions import InvalidInput
from gateway.ins.evidence import identity_evidence
from gateway.ins.queries import attested, search_query, verify_query, vitale_query
from gateway.ins.traits import normalise_name, traits_query, validate_birth_place
from gateway.ins.verdicts import Verdict, judge
from gateway.models import (
    CallContext,
    IdentityEvidence,
    Ins,
    InsResult,
    OfficialIdentity,
    ResultCode,
    TraitsQuery,
)
from gateway.render.answers import search_answer_json
from gateway.service import SearchAnswer

NIR = "1.2.250.1.213.1.4.8"
ADRUN = OfficialIdentity("ADRUN", "ZOE", ("ZOE",), "F", "1975-12-31", "63220")
FOUND = InsResult(ResultCode.FOUND, "OK", Ins("2751263220749", "74", NIR), ADRUN)
HELD = TraitsQuery("ADRUN", ("ZOE",), "F", "1975-12-31", "63220")
CONTEXT = CallContext(request_id="r-1", message_id="uuid:1")


def _answer(held: TraitsQuery, evidence: IdentityEvidence | None) -> dict[str, object]:
    context = dataclasses.replace(CONTEXT, evidence=evidence)
    return search_answer_json(SearchAnswer(held, FOUND, context))


@pytest.mark.parametrize("document", ["PA", "CN", "eCN", "CS"])
def test_a_high_trust_document_on_a_full_agreement_is_qual(document: str) -> None:
    answer = _answer(HELD, IdentityEvidence(document, "desk-1", "2026-11-27"))
    assert answer["identity_status"] == "QUAL"
    assert answer["identity_evidence"] == {
        "document": document,
        "checked_by": "desk-1",
        "checked_at": "2026-11-27",
        "qualifying": True,
    }


@pytest.mark.parametrize("document", ["AN", "LEP", "LECV", "ANCV", "CC", "IN", "AV"])
def test_other_documents_of_the_code_system_never_qualify(document: str) -> None:
    answer = _answer(HELD, IdentityEvidence(document))
    assert answer["identity_status"] == "RECUP"
    evidence = answer["identity_evidence"]
    assert isinstance(evidence, dict)
    assert evidence["qualifying"] is False


def test_without_evidence_a_full_agreement_is_recup_at_most() -> None:
    answer = _answer(HELD, None)
    assert (answer["identity_status"], answer["identity_evidence"]) == ("RECUP", None)


@pytest.mark.parametrize(
    ("held", "unchecked", "differing"),
    [
        (dataclasses.replace(HELD, birth_place=None), ["birth_place"], []),
        (dataclasses.replace(HELD, sex="M"), [], ["sex"]),
        (dataclasses.replace(HELD, first_names=("ZOE", "ANNE")), [], ["first_names"]),
    ],
)
def test_evidence_never_upgrades_check_required(
    held: TraitsQuery, unchecked: list[str], differing: list[str]
) -> None:
    answer = _answer(held, IdentityEvidence("PA"))
    assert answer["identity_status"] == "CHECK_REQUIRED"
    assert answer["unchecked_traits"] == unchecked
    assert [d["field"] for d in answer["differences"]] == differing  # type: ignore[attr-defined]


def test_an_official_identity_without_birth_place_leaves_it_unchecked() -> None:
    official = dataclasses.replace(ADRUN, birth_place=None)
    result = dataclasses.replace(FOUND, identity=official)
    answer = search_answer_json(SearchAnswer(HELD, result, CONTEXT))
    assert (answer["identity_status"], answer["unchecked_traits"]) == (
        "CHECK_REQUIRED",
        ["birth_place"],
    )


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"document": "PC"}, "identity_evidence.document"),  # driving licence: no such code
        ({"document": "cn"}, "identity_evidence.document"),  # codes are case-sensitive
        ({}, "identity_evidence.document"),
        ({"document": "PA", "photo": "x"}, "identity_evidence.photo"),
        ({"document": "PA", "checked_at": "27/11/2026"}, "identity_evidence.checked_at"),
        ({"document": "PA", "checked_by": 12}, "identity_evidence.checked_by"),
        (["PA"], "identity_evidence"),
    ],
)
def test_bad_evidence_is_a_400_naming_the_member(value: object, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        identity_evidence(value)
    assert refused.value.field == field


def test_every_operation_accepts_and_checks_the_evidence() -> None:
    traits = {"birth_name": "ADRUN", "first_names": ["ZOE"], "sex": "F", "birth_date": "1975-12-31"}
    bad = {"identity_evidence": {"document": "XX"}}
    card = {"beneficiary_matricule": "275126322074974", "birth_name": "ADRUN"}
    card |= {"birth_date": "1975-12-31", "birth_rank": "1"}
    held = {"ins": {"matricule": "2751263220749", "key": "74", "oid": NIR}}
    for parse, fields in (
        (search_query, traits),
        (vitale_query, card),
        (verify_query, {**traits, **held}),
    ):
        parse({**fields, "identity_evidence": {"document": "PA"}})
        with pytest.raises(InvalidInput) as refused:
            parse({**fields, **bad})
        assert refused.value.field == "identity_evidence.document"
    context = attested(CONTEXT, {"identity_evidence": {"document": "CS", "checked_by": "u"}})
    assert context.evidence == IdentityEvidence("CS", "u", None)


def test_a_vitale_local_identity_is_validated_like_a_search_naming_its_member() -> None:
    card = {"beneficiary_matricule": "275126322074974", "birth_name": "ADRUN"}
    card |= {"birth_date": "1975-12-31", "birth_rank": "1"}
    local = {"birth_name": "Adrun", "first_names": "Zoé", "sex": "f", "birth_date": "1975-12-31"}
    query = vitale_query({**card, "local_identity": {**local, "birth_place": "63220"}})
    assert query.local_identity == HELD
    for wrong, field in (
        ({**local, "sex": "X"}, "local_identity.sex"),
        ({**local, "nickname": "Z"}, "local_identity.nickname"),
        ({k: v for k, v in local.items() if k != "birth_date"}, "local_identity.birth_date"),
        ("ADRUN ZOE", "local_identity"),
    ):
        with pytest.raises(InvalidInput) as refused:
            vitale_query({**card, "local_identity": wrong})
        assert refused.value.field == field


def test_a_former_ins_without_cle_is_matched_on_its_matricule() -> None:
    former = Ins("2751263220111", None, NIR)  # INSHISTO without Cle
    result = dataclasses.replace(FOUND, history=(former,))
    verdict, differences = judge(Ins("2751263220111", "27", NIR), HELD, result)
    assert (verdict, differences) == (Verdict.SUPERSEDED, ())
    stranger, _ = judge(Ins("2751263220999", "12", NIR), HELD, result)
    assert stranger is Verdict.MISMATCH


@pytest.mark.parametrize("name", ["CD'-EF", "CD-'EF", "L'--X", "L' -- X", "A'--B-C"])
def test_names_mixing_separators_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_name("birth_name", name)
    assert refused.value.field == "birth_name"
    assert "mixes separators" in refused.value.reason
    assert "CD" not in refused.value.reason  # the name itself is never echoed


@pytest.mark.parametrize(
    "name", ["D'ARTAGNAN", "DUPONT--DURAND", "DE LA FONTAINE", "JEAN-PIERRE", "L'HERMITE-DUVAL"]
)
def test_names_with_one_separator_between_parts_pass(name: str) -> None:
    assert normalise_name("birth_name", name) == name


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("00123", "department"),
        ("96123", "department"),
        ("97012", "department"),
        ("97912", "department"),
        ("98112", "department"),
        ("99050", "country code"),
        ("99600", "country code"),
        ("99999", "country code"),
    ],
)
def test_birth_places_of_no_department_are_refused(code: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_birth_place("birth_place", code)
    assert refused.value.field == "birth_place"
    assert reason in refused.value.reason


@pytest.mark.parametrize("code", ["63220", "2A020", "2B020", "97101", "97611", "98818", "99350"])
def test_existing_departments_and_countries_pass(code: str) -> None:
    assert validate_birth_place("birth_place", code) == code


def test_department_20_only_before_the_1976_split_of_corsica() -> None:
    traits = {"birth_name": "CORSE", "first_names": ["ANTHONY"], "sex": "M"}
    assert traits_query({**traits, "birth_date": "1975-12-31", "birth_place": "20004"})
    for born in ("1976-01-01", "1980-00-00"):
        with pytest.raises(InvalidInput) as refused:
            traits_query({**traits, "birth_date": born, "birth_place": "20004"})
        assert refused.value.field == "birth_place"
        assert "2A or 2B" in refused.value.reason
