"""``POST /v1/ins/search`` end to end: gateway and mock under gunicorn, mutual TLS, loopback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.pki.devpki import DevPki
from tests.integration.conftest import (
    GatewayFactory,
    GatewayServer,
    MockServer,
    gateway_env,
    start_mock,
)
from tests.integration.servers import CLI, LOOPBACK, free_port

pytestmark = pytest.mark.integration

ADRTROIS_DOMINIQUE = {
    "birth_name": "ADRTROIS",
    "first_names": ["DOMINIQUE"],
    "sex": "F",
    "birth_date": "1997-02-26",
    "birth_place": "2A020",
}
PROBLEM = "urn:insi-gateway:problem:"


def test_persona_found_with_its_ins(gateway: GatewayServer) -> None:
    response = gateway.post(
        "/v1/ins/search", ADRTROIS_DOMINIQUE, headers={"X-Request-ID": "adm-42"}
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "found"
    assert answer["code"] == "00"
    assert answer["ins"]["matricule"] == "297022A020778"
    assert answer["ins"]["key"] == "78"
    assert answer["ins"]["oid"] == "1.2.250.1.213.1.4.8"
    assert answer["ins"]["kind"] == "NIR"
    assert answer["identity"]["birth_name"] == "ADRTROIS"
    assert answer["identity"]["first_names"] == ["DOMINIQUE"]
    assert answer["identity"]["birth_place"] == "2A020"
    assert answer["request_id"] == "adm-42"
    assert response.headers["X-Request-ID"] == "adm-42"
    assert answer["message_id"].startswith("uuid:")


def test_traits_are_normalised_before_sending(gateway: GatewayServer) -> None:
    lower_case = {**ADRTROIS_DOMINIQUE, "birth_name": " adrtrois ", "first_names": ["Dominiqué"]}

    answer = gateway.post("/v1/ins/search", lower_case).json()

    assert answer["status"] == "found"
    assert answer["sent"]["birth_name"] == "ADRTROIS"
    assert answer["sent"]["first_names"] == ["DOMINIQUE"]


def test_unknown_person_is_not_found(gateway: GatewayServer) -> None:
    houilles = {
        "birth_name": "HOUILLES",
        "first_names": ["PIERRE"],
        "sex": "M",
        "birth_date": "1993-01-27",
    }

    answer = gateway.post("/v1/ins/search", houilles).json()

    assert (answer["status"], answer["code"], answer["ins"]) == ("not_found", "01", None)


def test_two_matching_personas_answer_multiple(gateway: GatewayServer) -> None:
    de_vinci = {
        "birth_name": "DE VINCI",
        "first_names": ["LEONARDO"],
        "sex": "M",
        "birth_date": "2014-02-01",
    }

    answer = gateway.post("/v1/ins/search", de_vinci).json()

    assert (answer["status"], answer["code"]) == ("multiple", "02")


def test_history_is_returned(gateway: GatewayServer) -> None:
    ecetinsi = {
        "birth_name": "ECETINSI",
        "first_names": ["PIERRE-ALAIN", "MURIEL", "FLORIANT"],
        "sex": "M",
        "birth_date": "2009-07-14",
    }

    answer = gateway.post("/v1/ins/search", ecetinsi).json()

    assert answer["ins"]["matricule"] == "1090763220834"
    assert {(h["matricule"], h["key"]) for h in answer["history"]} == {
        ("2090763220834", "39"),
        ("2090663220123", "55"),
    }


def test_wrong_api_key_is_401(gateway: GatewayServer) -> None:
    for key in ("not-the-key", ""):
        response = gateway.post("/v1/ins/search", ADRTROIS_DOMINIQUE, key=key)
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["type"] == PROBLEM + "unauthorized"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"birth_name=X", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_body_is_400(gateway: GatewayServer, body: bytes, content_type: str) -> None:
    response = gateway.post("/v1/ins/search", data=body, headers={"Content-Type": content_type})

    assert response.status_code == 400
    assert response.json()["type"] == PROBLEM + "malformed-request"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_name", "ADR3TROIS"),
        ("birth_name", ""),
        ("birth_name", 42),
        ("first_names", []),
        ("first_names", ["DOMI_NIQUE"]),
        ("sex", "X"),
        ("birth_date", "1997-02-30"),
        ("birth_date", "26/02/1997"),
        ("birth_place", "2C020"),
        ("birth_place", "123"),
    ],
)
def test_each_invalid_field_is_400_naming_it(
    gateway: GatewayServer, field: str, value: Any
) -> None:
    response = gateway.post("/v1/ins/search", {**ADRTROIS_DOMINIQUE, field: value})

    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM + "invalid-input"
    assert problem["field"].split("[")[0] == field
    assert problem["reason"]


def test_missing_field_is_400_naming_it(gateway: GatewayServer) -> None:
    body = {k: v for k, v in ADRTROIS_DOMINIQUE.items() if k != "sex"}

    problem = gateway.post("/v1/ins/search", body).json()

    assert (problem["status"], problem["field"]) == (400, "sex")


def test_certificate_with_another_cn_gets_desir_560(
    gateway_factory: GatewayFactory, mock_server: MockServer, dev_pki: DevPki
) -> None:
    other = gateway_factory(mock_server.url, INSI_CERT_MANU=str(dev_pki.other_cn.p12))

    response = other.post("/v1/ins/search", ADRTROIS_DOMINIQUE)

    assert response.status_code == 502
    problem = response.json()
    assert problem["type"] == PROBLEM + "upstream-fault"
    assert problem["upstream"]["error_code"] == "DESIR_560"


def test_teleservice_down_is_503(gateway_factory: GatewayFactory) -> None:
    nothing_there = f"https://{LOOPBACK}:{free_port()}/lps"
    down = gateway_factory(nothing_there)

    response = down.post("/v1/ins/search", ADRTROIS_DOMINIQUE)

    assert response.status_code == 503
    assert response.json()["type"] == PROBLEM + "upstream-unavailable"


def test_unsigned_mode_against_tls_only_teleservice(
    gateway_factory: GatewayFactory, dev_pki: DevPki, log_dir: Any, mock_server: MockServer
) -> None:
    tls_only = start_mock(dev_pki, log_dir, MOCK_AUTH="tls")
    try:
        unsigned = gateway_factory(tls_only.url, INSI_SIGNING="none")
        found = unsigned.post("/v1/ins/search", ADRTROIS_DOMINIQUE)
        refused = gateway_factory(mock_server.url, INSI_SIGNING="none").post(
            "/v1/ins/search", ADRTROIS_DOMINIQUE
        )
    finally:
        tls_only.process.stop()

    assert found.json()["ins"]["matricule"] == "297022A020778"
    assert [r["signed"] for r in tls_only.logged_requests()] == [False]
    assert refused.status_code == 502


def test_logs_hold_no_identity_in_clear(gateway: GatewayServer) -> None:
    gateway.post("/v1/ins/search", ADRTROIS_DOMINIQUE, headers={"X-Request-ID": "log-check"})

    lines = [
        json.loads(line) for line in gateway.process.output().splitlines() if line.startswith("{")
    ]
    request_lines = [line for line in lines if line.get("request_id") == "log-check"]
    assert len(request_lines) == 1
    assert request_lines[0]["outcome"] == "00"
    assert "upstream_ms" in request_lines[0]
    text = gateway.process.output()
    for secret in ("ADRTROIS", "DOMINIQUE", "1997-02-26", "297022A020778"):
        assert secret not in text


def test_cli_search_prints_the_answer(
    dev_pki: DevPki, mock_server: MockServer, log_dir: Path
) -> None:
    env = gateway_env(dev_pki, mock_server.url, DATABASE_URL=f"sqlite:///{log_dir / 'cli.db'}")
    completed = subprocess.run(
        [
            *CLI,
            "search",
            "--birth-name",
            "ADRUN",
            "--first-names",
            "ZOE",
            "--sex",
            "F",
            "--birth-date",
            "1975-12-31",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    assert (answer["ins"]["matricule"], answer["ins"]["key"]) == ("2751263220749", "74")
