"""The answer shapes, described once (``gateway/render/shapes.py``, ``answer_shapes.py``).

Three things follow from them and are checked here: the answer component
schemas of ``openapi.json`` (regenerated in memory, compared with the file),
the SOAP answer types (read back from the published WSDL), and the JSON
answers themselves (every member they carry is described, every member
described as always present is there, and they validate against the
generated schemas).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from jsonschema import Draft202012Validator
from lxml import etree
from werkzeug.test import Client

from gateway.admission.gatekeeper import Gatekeeper
from gateway.ins.verdicts import Difference, Verdict
from gateway.interfaces.soap import soap_wsgi_apps
from gateway.interfaces.soap import types as soap_types
from gateway.metrics import Metrics
from gateway.models import (
    CallContext,
    IdentityEvidence,
    Ins,
    InsResult,
    MatriculeRef,
    OfficialIdentity,
    ResultCode,
    TraitsQuery,
    VerifyQuery,
    VitaleQuery,
)
from gateway.render import openapi_schemas
from gateway.render.answer_shapes import SEARCH_ANSWER, SHAPES, VERIFY_ANSWER
from gateway.render.answers import search_answer_json, verify_answer_json
from gateway.render.shapes import (
    ATTEMPT,
    DIFFERENCE,
    EVIDENCE,
    INS,
    OFFICIAL_IDENTITY,
    TRAITS_SENT,
    VITALE_SENT,
    Shape,
)
from gateway.service import Attempt, InsService, SearchAnswer, VerifyAnswer

XSD = "{http://www.w3.org/2001/XMLSchema}"
M1 = "uuid:00000000-0000-4000-8000-000000000001"  # wsa:MessageID
M2 = "uuid:00000000-0000-4000-8000-000000000002"

HELD = Ins("297022A020778", "78", "1.2.250.1.213.1.4.8", start_date="1997-02-26")
TRAITS = TraitsQuery("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", "2A020")
CONTEXT = CallContext(request_id="r-1", message_id=M1)
EVIDENT = CallContext(
    request_id="r-2", message_id=M2, evidence=IdentityEvidence("PA", "u-1", "2026-01-02")
)
FOUND = InsResult(
    code=ResultCode.FOUND,
    label="OK",
    ins=HELD,
    identity=OfficialIdentity("ADRTROIS", "DOMINIQUE", ("DOMINIQUE",), "F", "1997-02-26", "2A020"),
    history=(Ins("297022A020779", None, "1.2.250.1.213.1.4.8", end_date="2000-01-01"),),
)
MULTIPLE = InsResult(code=ResultCode.MULTIPLE, label="2")
VITALE = VitaleQuery(
    MatriculeRef("297022A020778", "78"), None, "ADRTROIS", "1997-02-26", "1", TRAITS
)
ATTEMPTS = (Attempt("DOMINIQUE", ResultCode.FOUND, M1),)


def _searches() -> list[dict[str, Any]]:
    return [
        search_answer_json(SearchAnswer(TRAITS, FOUND, EVIDENT, ATTEMPTS)),
        search_answer_json(SearchAnswer(TRAITS, MULTIPLE, CONTEXT)),
        search_answer_json(SearchAnswer(TRAITS, InsResult(ResultCode.NOT_FOUND, "0"), CONTEXT)),
        search_answer_json(SearchAnswer(VITALE, FOUND, CONTEXT)),
    ]


def _verdicts() -> list[dict[str, Any]]:
    mismatch = (Difference("first_names", ["DOMINIQUE"], ["DOMINIQUE", "MARIE"]),)
    return [
        verify_answer_json(
            VerifyAnswer(
                VerifyQuery(HELD, TRAITS),
                Verdict.MISMATCH,
                mismatch,
                SearchAnswer(TRAITS, FOUND, EVIDENT, ATTEMPTS),
            )
        ),
        verify_answer_json(
            VerifyAnswer(
                VerifyQuery(HELD, TRAITS),
                Verdict.MULTIPLE,
                (),
                SearchAnswer(TRAITS, MULTIPLE, CONTEXT),
            )
        ),
    ]


# --- openapi.json ---------------------------------------------------------------------------


def test_openapi_answer_schemas_are_the_generated_ones() -> None:
    current, wanted = openapi_schemas.regenerated()

    assert current == wanted, "run: python -m gateway.render.openapi_schemas --write"


def test_the_generator_rewrites_only_a_drifted_answer_schema(tmp_path: Path) -> None:
    document = json.loads(openapi_schemas.DOCUMENT.read_text(encoding="utf-8"))
    document["components"]["schemas"]["Ins"]["properties"]["kind"]["description"] = "drifted"
    document["components"]["schemas"]["SearchAnswer"]["required"].remove("sent")
    drifted = tmp_path / "openapi.json"
    drifted.write_text(openapi_schemas.render(document), encoding="utf-8")

    assert openapi_schemas.main(["--path", str(drifted)]) == 1
    assert openapi_schemas.main(["--path", str(drifted), "--write"]) == 0
    assert drifted.read_text(encoding="utf-8") == openapi_schemas.DOCUMENT.read_text(
        encoding="utf-8"
    )


def test_other_components_and_paths_are_left_alone() -> None:
    document = {"paths": {"/x": {}}, "components": {"schemas": {"Other": {"type": "string"}}}}

    updated = openapi_schemas.with_answer_components(document)

    assert updated["paths"] == {"/x": {}}
    assert next(iter(updated["components"]["schemas"])) == "Other"
    assert set(updated["components"]["schemas"]) - {"Other"} == set(
        openapi_schemas.answer_components()
    )


# --- the JSON answers -----------------------------------------------------------------------


def _check_members(data: dict[str, Any], shape: Shape) -> None:
    names = [f.name for f in shape.fields]
    always = {f.name for f in shape.fields if not f.optional}
    assert set(data) <= set(names), f"{shape.name}: undescribed {set(data) - set(names)}"
    assert always <= set(data), f"{shape.name}: missing {always - set(data)}"


@pytest.mark.parametrize("answer", _searches(), ids=["found", "multiple", "not_found", "vitale"])
def test_search_answers_carry_the_described_members(answer: dict[str, Any]) -> None:
    _check_members(answer, SEARCH_ANSWER)
    if "holder_matricule" in answer["sent"]:
        _check_members(answer["sent"], VITALE_SENT)
        _check_members(answer["sent"]["local_identity"], TRAITS_SENT)
    else:
        _check_members(answer["sent"], TRAITS_SENT)
    for ins in [answer["ins"], *answer["history"]] if answer["ins"] else []:
        _check_members(ins, INS)
    if answer["identity"]:
        _check_members(answer["identity"], OFFICIAL_IDENTITY)
    if answer["identity_evidence"] is not None:
        _check_members(answer["identity_evidence"], EVIDENCE)
    for attempt in answer.get("attempts", []):
        _check_members(attempt, ATTEMPT)


@pytest.mark.parametrize("answer", _verdicts(), ids=["mismatch", "multiple"])
def test_verify_answers_carry_the_described_members(answer: dict[str, Any]) -> None:
    _check_members(answer, VERIFY_ANSWER)
    for difference in answer["differences"]:
        _check_members(difference, DIFFERENCE)


def _validator(component: str) -> Draft202012Validator:
    schemas = openapi_schemas.answer_components()
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{component}", "components": {"schemas": schemas}}
    )


@pytest.mark.parametrize(
    ("component", "answers"),
    [("SearchAnswer", _searches()), ("VerifyAnswer", _verdicts())],
)
def test_answers_validate_against_the_generated_schemas(
    component: str, answers: list[dict[str, Any]]
) -> None:
    validator = _validator(component)
    for answer in answers:
        assert [e.message for e in validator.iter_errors(answer)] == []
    broken = {**answers[0], "unexpected": 1}
    assert list(validator.iter_errors(broken)), "an undescribed member must not validate"


# --- the SOAP answer types, as the WSDL publishes them ---------------------------------------


@pytest.fixture(scope="module")
def wsdl_types() -> dict[str, list[tuple[str, str]]]:
    """Each complex type of the WSDL: its elements' names and ``minOccurs``, in order."""
    apps = soap_wsgi_apps(
        cast(InsService, object()), cast(Gatekeeper, object()), Metrics(), max_body_bytes=65536
    )
    body = Client(apps["/soap"]).get("/soap?wsdl").get_data()
    root = etree.fromstring(body)
    return {
        str(kind.get("name")): [
            (str(e.get("name")), e.get("minOccurs", "1")) for e in kind.iter(f"{XSD}element")
        ]
        for kind in root.iter(f"{XSD}complexType")
    }


@pytest.mark.parametrize("shape", [s for s in SHAPES if s.soap_name], ids=lambda s: s.name)
def test_soap_answer_types_follow_the_shapes(
    wsdl_types: dict[str, list[tuple[str, str]]], shape: Shape
) -> None:
    expected = [(f.name, "1" if f.xml.always else "0") for f in shape.fields]

    assert wsdl_types[str(shape.soap_name)] == expected


def test_soap_sent_query_covers_both_sent_shapes() -> None:
    declared = set(soap_types.SentQuery.get_flat_type_info(soap_types.SentQuery))
    described = {f.name for f in TRAITS_SENT.fields} | {f.name for f in VITALE_SENT.fields}

    assert declared == described
