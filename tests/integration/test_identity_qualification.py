"""Issue 16, points 1 to 3 over the real servers: the status given is exactly what was checked.

Gateway and mock under gunicorn, mutual TLS, loopback. The same cases go
through JSON, SOAP 1.1, SOAP 1.2 and a batch job; expected statuses are written
from the rules (docs/ins-rules.md, status table), not from the code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import zeep

from tests.integration.conftest import GatewayServer, cli
from tests.integration.personas import PERSONAS, Expected
from tests.integration.soap_messages import VERSIONS
from tests.integration.test_jobs import (
    Jobs,
    finished,
    jobs_gateway,  # noqa: F401 (the fixture, one per module)
)
from tests.integration.test_soap import soap_client

pytestmark = pytest.mark.integration
FIVE = ["birth_name", "first_names", "sex", "birth_date", "birth_place"]
ADRTROIS = next(p for p in PERSONAS if p.id == "ADRTROIS DOMINIQUE")
ADRUN = next(p for p in PERSONAS if p.id == "ADRUN ZOE")

# (case, extra request members, place sent?, expected status): from the status table.
CASES = [
    ("qualifying document", {"identity_evidence": {"document": "PA"}}, True, "QUAL"),
    ("no document", {}, True, "RECUP"),
    ("non-qualifying document", {"identity_evidence": {"document": "AN"}}, True, "RECUP"),
    ("no birth place", {"identity_evidence": {"document": "CN"}}, False, "CHECK_REQUIRED"),
]


def _verify_body(person: Expected, extra: dict[str, Any], with_place: bool) -> dict[str, Any]:
    held = {"matricule": person.matricule, "key": person.key, "oid": person.oid}
    return {"ins": held, **person.traits(with_place=with_place), **extra}


@pytest.fixture(scope="module", params=VERSIONS, ids=["soap11", "soap12"])
def soap(request: pytest.FixtureRequest, gateway: GatewayServer) -> Iterator[zeep.Client]:
    client = soap_client(gateway, request.param.path)
    yield client
    client.transport.session.close()


def _plain(value: Any) -> Any:
    return zeep.helpers.serialize_object(value, dict)


def test_a_search_without_birth_place_is_check_required_everywhere(
    gateway: GatewayServer, soap: zeep.Client
) -> None:
    traits = ADRUN.traits(with_place=False)
    answer = gateway.post("/v1/ins/search", traits).json()
    assert (answer["status"], answer["identity_status"]) == ("found", "CHECK_REQUIRED")
    assert (answer["differences"], answer["unchecked_traits"]) == ([], ["birth_place"])
    assert answer["identity"]["birth_place"] == ADRUN.place  # the record can be completed

    soap_answer = _plain(soap.service.searchByTraits(**traits))
    assert soap_answer["identity_status"] == "CHECK_REQUIRED"
    assert soap_answer["unchecked_traits"] == ["birth_place"]


def test_vitale_without_local_identity_is_never_recup(
    gateway: GatewayServer, soap: zeep.Client
) -> None:
    assert ADRTROIS.card is not None
    card = {**ADRTROIS.card, "birth_name": ADRTROIS.birth_name, "birth_date": ADRTROIS.birth_date}

    bare = gateway.post("/v1/ins/search/vitale", card).json()
    assert (bare["status"], bare["identity_status"]) == ("found", "CHECK_REQUIRED")
    assert (bare["differences"], bare["unchecked_traits"]) == ([], FIVE)

    local = ADRTROIS.traits()
    same = gateway.post("/v1/ins/search/vitale", {**card, "local_identity": local}).json()
    assert (same["identity_status"], same["unchecked_traits"]) == ("RECUP", [])
    assert same["sent"]["local_identity"]["birth_place"] == ADRTROIS.place

    evidence = {"document": "CN", "checked_by": "desk-7", "checked_at": "2026-12-07"}
    qualified = {**card, "local_identity": local, "identity_evidence": evidence}
    answer = gateway.post("/v1/ins/search/vitale", qualified).json()
    assert answer["identity_status"] == "QUAL"
    assert answer["identity_evidence"] == {**evidence, "qualifying": True}

    twin = {**local, "first_names": ["DOMINIQUETTE"]}  # another person at the desk
    other = {**card, "local_identity": twin, "identity_evidence": evidence}
    refused_upgrade = gateway.post("/v1/ins/search/vitale", other).json()
    assert refused_upgrade["identity_status"] == "CHECK_REQUIRED"
    assert [d["field"] for d in refused_upgrade["differences"]] == ["first_names"]

    soap_bare = _plain(soap.service.searchByVitale(**card))
    assert (soap_bare["identity_status"], soap_bare["unchecked_traits"]) == (
        "CHECK_REQUIRED",
        FIVE,
    )
    soap_qualified = _plain(soap.service.searchByVitale(**qualified))
    assert soap_qualified["identity_status"] == "QUAL"
    assert soap_qualified["identity_evidence"]["qualifying"] is True


def test_a_bad_evidence_code_is_a_400_naming_the_member(gateway: GatewayServer) -> None:
    body = {**ADRUN.traits(), "identity_evidence": {"document": "PERMIS"}}
    response = gateway.post("/v1/ins/search", body)
    assert response.status_code == 400
    problem = response.json()
    assert problem["field"] == "identity_evidence.document"
    assert "fr-core-cs-mode-validation-identity" in problem["reason"]


@pytest.mark.parametrize(("case", "extra", "with_place", "expected"), CASES)
def test_statuses_agree_on_json_soap_fhir_and_batch(
    gateway: GatewayServer,
    soap: zeep.Client,
    case: str,
    extra: dict[str, Any],
    with_place: bool,
    expected: str,
) -> None:
    body = _verify_body(ADRUN, extra, with_place)
    answer = gateway.post("/v1/ins/verify", body).json()
    assert (answer["verdict"], answer["identity_status"]) == ("verified", expected), case
    assert answer["unchecked_traits"] == ([] if with_place else ["birth_place"])

    soap_answer = _plain(soap.service.verifyIns(**body))
    assert soap_answer["identity_status"] == expected, case

    (item,) = gateway.post("/v1/ins/verify", [body]).json()["results"]
    assert item["identity_status"] == expected, case

    fhir = gateway.post("/v1/ins/verify", body, headers={"Accept": "application/fhir+json"})
    assert fhir.headers["X-INS-Status"] == expected, case
    resource = fhir.json()
    if expected == "QUAL":  # the only status under which FR Core lets the INS travel
        assert resource["resourceType"] == "Patient"
        assert any(i["value"] == ADRUN.matricule + ADRUN.key for i in resource["identifier"])
    else:
        assert resource["resourceType"] == "Bundle"
        assert ADRUN.matricule not in json.dumps(resource)


def test_batch_rows_take_the_evidence_column(jobs_gateway: GatewayServer) -> None:  # noqa: F811
    jobs = Jobs(jobs_gateway)
    lines = []
    for number, (_case, extra, with_place, _expected) in enumerate(CASES, start=1):
        row = {"local_id": f"P{number}", **_verify_body(ADRUN, extra, with_place)}
        lines.append(json.dumps(row))
    job_id = jobs.submit("\n".join(lines) + "\n", "application/x-ndjson")
    jobs.wait(job_id, finished)
    results = {r["local_id"]: r for r in jobs.results(job_id)}
    for number, (case, extra, _with_place, expected) in enumerate(CASES, start=1):
        result = results[f"P{number}"]
        assert result["identity_status"] == expected, case
        document = (extra.get("identity_evidence") or {}).get("document")
        assert (result["identity_evidence"] or {}).get("document") == document

    header = "local_id,matricule,key,oid,birth_name,first_names,sex,birth_date,birth_place,"
    csv = header + "identity_evidence\n"
    csv += f"C1,{ADRUN.matricule},{ADRUN.key},{ADRUN.oid},ADRUN,ZOE,F,1975-12-31,63220,CN\n"
    csv += f"C2,{ADRUN.matricule},{ADRUN.key},{ADRUN.oid},ADRUN,ZOE,F,1975-12-31,,CN\n"
    csv += f"C3,{ADRUN.matricule},{ADRUN.key},{ADRUN.oid},ADRUN,ZOE,F,1975-12-31,63220,PC\n"
    job_id = jobs.submit(csv, "text/csv")
    jobs.wait(job_id, finished)
    results = {r["local_id"]: r for r in jobs.results(job_id)}
    assert results["C1"]["identity_status"] == "QUAL"
    assert results["C2"]["identity_status"] == "CHECK_REQUIRED"
    assert results["C2"]["unchecked_traits"] == ["birth_place"]
    assert results["C3"]["verdict"] == "error"
    assert results["C3"]["error"]["field"] == "identity_evidence.document"


def test_the_journal_records_the_status_and_the_evidence_type(gateway: GatewayServer) -> None:
    body = _verify_body(ADRUN, {"identity_evidence": {"document": "eCN", "checked_by": "u1"}}, True)
    answer = gateway.post("/v1/ins/verify", body).json()
    assert answer["identity_status"] == "QUAL"
    out = cli(gateway.env, "audit", "search", "--app", "integration", "--limit", "100000")
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    mine = [r for r in records if r["message_id"] == answer["message_id"]]
    intent, outcome = sorted(mine, key=lambda r: r["seq"])
    assert (outcome["outcome"], outcome["identity_status"], outcome["evidence"]) == (
        "00",
        "QUAL",
        "eCN",
    )
    assert intent["identity_status"] is None  # nothing was known before the answer
    assert "ADRUN" not in out
    assert ADRUN.matricule not in out
    assert "u1" not in json.dumps(mine)
