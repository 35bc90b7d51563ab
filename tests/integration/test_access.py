"""Many applications, one gateway: keys, operations, quotas (JSON and SOAP), audit journal."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.pki.devpki import DevPki
from testbed.processes import connected_to
from testbed.waiting import wait_until
from tests.integration.conftest import (
    AUDIT_KEY,
    GatewayFactory,
    GatewayServer,
    MockServer,
    cli,
    register_app,
    start_mock,
)
from tests.integration.personas import PERSONAS
from tests.integration.servers import CLI

pytestmark = pytest.mark.integration

DOMINIQUE = PERSONAS[0].traits()
PROBLEM = "urn:insi-gateway:problem:"
SOAP_SEARCH = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:gw="urn:insi-gateway:soap:v1">
  <soapenv:Body><gw:searchByTraits>
    <gw:birth_name>ADRTROIS</gw:birth_name><gw:first_names>DOMINIQUE</gw:first_names>
    <gw:sex>F</gw:sex><gw:birth_date>1997-02-26</gw:birth_date>
  </gw:searchByTraits></soapenv:Body>
</soapenv:Envelope>"""


def soap(gateway: GatewayServer, key: str) -> requests.Response:
    return gateway.session.post(
        gateway.base_url + "/soap",
        data=SOAP_SEARCH.encode(),
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "Authorization": f"Bearer {key}",
            "SOAPAction": "searchByTraits",
        },
        verify=str(gateway.ca_bundle),
        timeout=30,
    )


def fault_code(response: requests.Response) -> str:
    start = response.text.index("<faultcode>") + len("<faultcode>")
    return response.text[start : response.text.index("</faultcode>")]


def problem_type(response: requests.Response) -> str:
    return str(response.json()["type"]).removeprefix(PROBLEM)


def test_keys_matrix_on_json_and_soap(gateway: GatewayServer) -> None:
    key = register_app(gateway.env, "admissions")
    revoked = register_app(gateway.env, "old-lab")
    cli(gateway.env, "apps", "revoke", "old-lab")
    rotated = register_app(gateway.env, "radiology")
    new = json.loads(cli(gateway.env, "apps", "rotate-key", "radiology"))["api_key"]

    cases = {"": 401, "igw_unknown": 401, revoked: 401, rotated: 401, key: 200, new: 200}
    for presented, status in cases.items():
        json_answer = gateway.post("/v1/ins/search", DOMINIQUE, key=presented)
        soap_answer = soap(gateway, presented)
        assert json_answer.status_code == status, presented
        if status == 401:
            assert problem_type(json_answer) == "unauthorized"
            assert fault_code(soap_answer) == "soap11env:Client.unauthorized"
        else:
            assert "297022A020778" in soap_answer.text



def test_x_api_key_opens_the_soap_interface_only(gateway: GatewayServer) -> None:
    """As the OpenAPI document and docs/soap.md say: JSON routes take ``Bearer`` alone."""
    key = register_app(gateway.env, "soap-only-header")
    sent = {"X-API-Key": key, "Content-Type": "application/json"}
    json_answer = gateway.session.post(
        gateway.base_url + "/v1/ins/search",
        data=json.dumps(DOMINIQUE).encode(),
        headers=sent,
        verify=str(gateway.ca_bundle),
        timeout=30,
    )
    soap_answer = gateway.session.post(
        gateway.base_url + "/soap",
        data=SOAP_SEARCH.encode(),
        headers={"X-API-Key": key, "Content-Type": "text/xml; charset=utf-8"},
        verify=str(gateway.ca_bundle),
        timeout=30,
    )

    assert json_answer.status_code == 401
    assert problem_type(json_answer) == "unauthorized"
    assert "Bearer" in json_answer.json()["detail"]
    assert soap_answer.status_code == 200, soap_answer.text
    assert "297022A020778" in soap_answer.text

def test_listing_apps_never_shows_keys(gateway: GatewayServer) -> None:
    key = register_app(gateway.env, "listing-check")

    listed = cli(gateway.env, "apps", "list")

    assert "listing-check" in listed
    assert key not in listed
    assert "api_key" not in listed


def test_operation_not_allowed_is_403(gateway: GatewayServer) -> None:
    key = register_app(gateway.env, "lab", "--operations", "verify")

    response = gateway.post("/v1/ins/search", DOMINIQUE, key=key)

    assert response.status_code == 403
    assert problem_type(response) == "forbidden"
    assert fault_code(soap(gateway, key)) == "soap11env:Client.forbidden"


def test_over_rate_is_429_with_retry_after(gateway: GatewayServer) -> None:
    key = register_app(gateway.env, "patient-index", "--rate", "0.2", "--burst", "1")

    first = gateway.post("/v1/ins/search", DOMINIQUE, key=key)
    second = gateway.post("/v1/ins/search", DOMINIQUE, key=key)
    third = soap(gateway, key)

    assert first.status_code == 200
    assert second.status_code == 429
    assert problem_type(second) == "rate-limited"
    assert int(second.headers["Retry-After"]) >= 1
    assert fault_code(third) == "soap11env:Client.rate-limited"


def test_over_concurrency_is_429(
    gateway_factory: GatewayFactory, dev_pki: DevPki, log_dir: Path
) -> None:
    slow = start_mock(dev_pki, log_dir, MOCK_LATENCY_MS="1500")
    try:
        server = gateway_factory(slow.url)
        key = register_app(server.env, "pharmacy", "--max-concurrent", "1", "--rate", "100")
        results: list[int] = []
        first = threading.Thread(
            target=lambda: results.append(
                server.post("/v1/ins/search", DOMINIQUE, key=key).status_code
            )
        )
        first.start()
        wait_until(  # the first is admitted and now waiting on the slow teleservice
            lambda: connected_to(slow.port), 30, "the first call connected to the teleservice"
        )
        second = server.post("/v1/ins/search", DOMINIQUE, key=key)
        soap_second = soap(server, key)
        first.join(30)
    finally:
        slow.process.stop()

    assert results == [200]
    assert second.status_code == 429
    assert problem_type(second) == "too-many-concurrent"
    assert fault_code(soap_second) == "soap11env:Client.too-many-concurrent"


def test_end_user_goes_into_the_vihf_and_the_journal(
    gateway: GatewayServer, mock_server: MockServer
) -> None:
    gateway.post(
        "/v1/ins/search",
        DOMINIQUE,
        headers={"X-User-Id": "nurse.martin", "X-Request-ID": "vihf-user"},
    )

    signed = [r for r in mock_server.logged_requests() if r.get("vihf_subject") == "nurse.martin"]
    assert [(r["vihf_qualifier"], r["vihf_sector"]) for r in signed] == [("UTILISATEUR", "SA01")]
    records = [
        json.loads(line)
        for line in cli(gateway.env, "audit", "search", "--user", "nurse.martin").splitlines()
    ]
    assert [r["request_id"] for r in records] == ["vihf-user", "vihf-user"]  # intent, outcome
    assert [r["outcome"] for r in records] == ["unknown", "00"]
    assert records[0]["cert_mode"] == "INSI-MANU"


def _journal(gateway: GatewayServer) -> list[dict[str, Any]]:
    lines = cli(gateway.env, "audit", "export", "--format", "jsonl").splitlines()
    return [json.loads(line) for line in lines]


def test_every_call_kind_is_journaled_and_the_chain_holds(
    gateway_factory: GatewayFactory, mock_server: MockServer, dev_pki: DevPki
) -> None:
    server = gateway_factory(mock_server.url)
    houilles = {**PERSONAS[8].traits()}
    server.post("/v1/ins/search", DOMINIQUE, headers={"X-Request-ID": "found"})
    server.post("/v1/ins/search", houilles, headers={"X-Request-ID": "not-found"})
    server.post("/v1/ins/search", {**DOMINIQUE, "sex": "X"}, headers={"X-Request-ID": "invalid"})
    server.post("/v1/ins/search", DOMINIQUE, key="wrong", headers={"X-Request-ID": "no-key"})
    server.post(
        "/v1/ins/search", {**DOMINIQUE, "flags": ["fictive"]}, headers={"X-Request-ID": "fictive"}
    )

    by_request: dict[str, list[str]] = {}
    for record in _journal(server):
        by_request.setdefault(record["request_id"], []).append(record["outcome"])
    assert by_request["found"] == ["unknown", "00"]  # each call: intent, then outcome
    assert by_request["not-found"] == ["unknown", "01"] * 4
    assert by_request["invalid"] == ["invalid-input"]
    assert by_request["no-key"] == ["unauthorized"]
    assert by_request["fictive"] == ["identity-not-eligible"]
    assert json.loads(cli(server.env, "audit", "verify"))["ok"] is True

    matricule = PERSONAS[0].matricule
    assert matricule is not None
    found = cli(server.env, "audit", "search", "--matricule", matricule)
    assert [json.loads(line)["request_id"] for line in found.splitlines()] == ["found"]


def test_tampering_is_found_and_named(
    gateway_factory: GatewayFactory, mock_server: MockServer
) -> None:
    server = gateway_factory(mock_server.url)
    for index in range(4):
        server.post("/v1/ins/search", DOMINIQUE, headers={"X-Request-ID": f"t-{index}"})
    database = server.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE audit_records SET outcome = '01' WHERE seq = 3")

    completed = subprocess.run(
        [*CLI, "audit", "verify"],
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 1
    assert json.loads(completed.stdout)["first_broken_seq"] == 3


def test_no_identity_in_clear_in_journal_or_logs(
    gateway_factory: GatewayFactory, mock_server: MockServer
) -> None:
    server = gateway_factory(mock_server.url)
    for persona in PERSONAS:
        server.post("/v1/ins/search", persona.traits())
    database = Path(server.env["DATABASE_URL"].removeprefix("sqlite:///"))
    stored = database.read_bytes() + b"".join(
        p.read_bytes() for p in database.parent.glob(database.name + "-wal")
    )
    logs = server.process.output()

    for persona in PERSONAS:
        for clear in (persona.birth_name, persona.birth_date, persona.matricule):
            if clear:
                assert clear.encode() not in stored, clear
                assert clear not in logs, clear
    assert AUDIT_KEY not in logs


def test_each_application_signs_with_its_own_activity_sector(
    gateway: GatewayServer, mock_server: MockServer
) -> None:
    """``apps add --activity-sector``: the VIHF ``secteurActivite`` of that app's calls."""
    key = register_app(gateway.env, "clinique-privee", "--activity-sector", "SA04")

    answer = gateway.post("/v1/ins/search", DOMINIQUE, key=key, headers={"X-Request-ID": "sa04"})

    assert answer.status_code == 200, answer.text
    mine = [r for r in mock_server.logged_requests() if r.get("vihf_sector") == "SA04"]
    assert [(r["vihf_subject"], r["vihf_qualifier"]) for r in mine] == [
        ("499700000000001", "STRUCTURE")  # no X-User-Id: the structure (dev certificate OU)
    ]


def test_an_activity_sector_that_is_no_tre_r02_code_is_refused_by_apps_add(
    gateway: GatewayServer,
) -> None:
    completed = subprocess.run(
        [*CLI, "apps", "add", "bad-sector", "--activity-sector", "public"],
        env={**os.environ, **gateway.env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert completed.returncode != 0
    assert "activity_sector" in completed.stderr
