"""Inputs and outputs that cannot hurt their readers, against a real gateway.

Duplicate JSON members, control and bidirectional characters, spreadsheet
formulas in CSV results, ``Allow`` on 405 answers.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import requests

from tests.integration.conftest import GatewayServer, MockServer

pytestmark = pytest.mark.integration

SEARCH = (
    '{"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", '
    '"birth_date": "1997-02-26", "birth_place": "2A020"'
)


def _post_raw(gateway: GatewayServer, path: str, body: str, content_type: str) -> requests.Response:
    return gateway.post(path, data=body.encode(), headers={"Content-Type": content_type})


def test_a_duplicate_member_is_refused_naming_it_and_nothing_is_sent(
    gateway: GatewayServer, mock_server: MockServer
) -> None:
    sent_before = len(mock_server.logged_requests())

    response = _post_raw(
        gateway,
        "/v1/ins/search",
        SEARCH + ', "flags": ["douteuse"], "flags": []}',
        "application/json",
    )

    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == "urn:insi-gateway:problem:invalid-input"
    assert problem["field"] == "flags"
    assert "twice" in problem["reason"]
    assert len(mock_server.logged_requests()) == sent_before


def test_a_duplicate_inside_a_verify_batch_item_is_refused(gateway: GatewayServer) -> None:
    item = '{"ins": {"matricule": "297022A020778", "matricule": "1", "key": "78"}}'

    response = _post_raw(gateway, "/v1/ins/verify", f"[{item}]", "application/json")

    assert response.status_code == 400
    assert response.json()["field"] == "matricule"


@pytest.mark.parametrize(
    ("body", "field", "character"),
    [
        (SEARCH.replace("ADRTROIS", "ADR\u202eSIORT") + "}", "birth_name", "U+202E"),
        (SEARCH.replace("DOMINIQUE", "DOMI\\u0000NIQUE") + "}", "first_names[0]", "U+0000"),
        (SEARCH + ', "note\u2066x": "y"}', "note\\u2066x", "U+2066"),
    ],
    ids=["bidi-override-in-a-value", "nul-in-a-list-item", "bidi-isolate-in-a-member-name"],
)
def test_control_and_bidi_characters_are_refused_naming_the_field(
    gateway: GatewayServer, body: str, field: str, character: str
) -> None:
    response = _post_raw(gateway, "/v1/ins/search", body, "application/json")

    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["field"] == field
    assert character in problem["reason"]
    assert "\u202e" not in response.text
    assert "\u2066" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/ins/search", "POST"),
        ("PUT", "/v1/jobs", "POST"),
        ("GET", "/soap", "POST"),
        ("DELETE", "/soap12", "POST"),
        ("PUT", "/soap?wsdl", "GET"),
    ],
)
def test_405_answers_carry_allow(
    gateway: GatewayServer, method: str, path: str, allowed: str
) -> None:
    response = gateway.session.request(
        method,
        gateway.base_url + path,
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        verify=str(gateway.ca_bundle),
        timeout=60,
    )

    assert response.status_code == 405
    assert allowed in [m.strip() for m in response.headers["Allow"].split(",")]


FORMULAS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "=HYPERLINK(A1)"]


def test_job_inputs_refuse_unsafe_local_ids_and_csv_results_never_run_formulas(
    gateway: GatewayServer,
) -> None:
    # Every row lacks "sex": refused at submission, so its result exists at once.
    rows = [*FORMULAS, "A\u202eB", "OK-1"]
    body = "local_id,birth_name,first_names,birth_date\r\n" + "".join(
        f'"{local_id}",ADRTROIS,DOMINIQUE,1997-02-26\r\n' for local_id in rows
    )
    submitted = _post_raw(gateway, "/v1/jobs", body, "text/csv")
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]

    answer = gateway.session.get(
        f"{gateway.base_url}/v1/jobs/{job_id}/results",
        headers={"Authorization": f"Bearer {gateway.api_key}", "Accept": "text/csv"},
        verify=str(gateway.ca_bundle),
        timeout=60,
    )

    table = list(csv.DictReader(io.StringIO(answer.text)))
    local_ids = [row["local_id"] for row in table]
    assert local_ids[: len(FORMULAS)] == ["'" + formula for formula in FORMULAS]
    assert local_ids[len(FORMULAS):] == ["", "OK-1"]  # the bidi one is never echoed
    assert table[len(FORMULAS)]["error_field"] == "local_id"
    assert "U+202E" in table[len(FORMULAS)]["error_detail"]
    for row in table:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t")) for cell in row.values())


def test_json_lines_jobs_refuse_duplicate_members_per_row(gateway: GatewayServer) -> None:
    good = json.dumps({"local_id": "r1", "birth_name": "ADRTROIS"})
    duplicated = '{"local_id": "r2", "flags": ["douteuse"], "flags": []}'

    submitted = _post_raw(gateway, "/v1/jobs", f"{good}\n{duplicated}\n", "application/x-ndjson")
    assert submitted.status_code == 202, submitted.text
    results = gateway.session.get(
        f"{gateway.base_url}/v1/jobs/{submitted.json()['job_id']}/results",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        verify=str(gateway.ca_bundle),
        timeout=60,
    )

    second = [json.loads(line) for line in results.text.splitlines()][1]
    assert second["error"]["field"] == "flags"
    assert "twice" in second["error"]["reason"]
