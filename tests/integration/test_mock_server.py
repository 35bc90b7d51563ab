"""The mock teleservice under real gunicorn: HTTPS with mutual TLS on 127.0.0.1.

Started with ``python -m gateway.mock.server`` (not the gateway's CLI) so the
mock's own entry point is what is tested; stopped by the fixture finalizer
(SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway import ns
from gateway.pki.credentials import Credential, load_credential
from gateway.pki.devpki import ClientFiles, DevPki
from tests.integration.servers import LOOPBACK, ServerProcess, free_port
from tests.unit.test_mock_app import (
    DOMINIQUE,
    assertion,
    child,
    dominique_with,
    envelope,
    security,
    sign,
    signed_search,
    soap_content_type,
    traits_body,
    traits_hash,
)

pytestmark = pytest.mark.integration


@dataclass
class Mock:
    base_url: str
    request_log: Path
    ca_bundle: Path
    process: ServerProcess


def client_cert(dev_pki: DevPki, files: ClientFiles, tmp_dir: Path) -> tuple[str, str]:
    """(cert+chain PEM, clear key) for requests, which cannot take an encrypted key."""
    credential = load_credential(files.p12, dev_pki.passphrase, setting="test")
    key_path = tmp_dir / f"{files.key.stem}-clear.key"
    clear = credential.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(clear)
    return str(files.pem), str(key_path)


def start(dev_pki: DevPki, tmp_dir: Path, manu_cert: tuple[str, str], **env: str) -> Mock:
    """Start the mock on a free port; ready once ``/healthz`` answers over mutual TLS."""
    port = free_port()
    request_log = tmp_dir / f"mock-{port}.jsonl"
    process = ServerProcess(
        f"mock-server-{port}",
        [
            sys.executable,
            "-m",
            "gateway.mock.server",
            "--bind",
            f"{LOOPBACK}:{port}",
            "--pki",
            str(dev_pki.directory),
            "--threads",
            "4",
        ],
        {"MOCK_REQUEST_LOG": str(request_log), **env},
        tmp_dir,
    )
    mock = Mock(f"https://{LOOPBACK}:{port}", request_log, dev_pki.ca_bundle, process)

    def healthy() -> bool:
        try:
            url = mock.base_url + "/healthz"
            return requests.get(url, cert=manu_cert, verify=str(mock.ca_bundle), timeout=1).ok
        except requests.RequestException:
            return False

    process.wait_until(healthy)
    return mock


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mock-server")


@pytest.fixture(scope="module")
def manu_cert(dev_pki: DevPki, tmp_dir: Path) -> tuple[str, str]:
    return client_cert(dev_pki, dev_pki.insi_manu, tmp_dir)


@pytest.fixture(scope="module")
def manu(dev_pki: DevPki) -> Credential:
    return load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="test")


@pytest.fixture(scope="module")
def mock(dev_pki: DevPki, tmp_dir: Path, manu_cert: tuple[str, str]) -> Iterator[Mock]:
    mock = start(dev_pki, tmp_dir, manu_cert)
    try:
        yield mock
    finally:
        mock.process.stop()


def test_no_client_certificate_is_refused_at_tls(mock: Mock) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(mock.base_url + "/healthz", verify=str(mock.ca_bundle), timeout=5)


def test_client_certificate_from_another_ca_is_refused(
    mock: Mock, dev_pki: DevPki, tmp_dir: Path
) -> None:
    cert = client_cert(dev_pki, dev_pki.unknown_ca, tmp_dir)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(mock.base_url + "/healthz", cert=cert, verify=str(mock.ca_bundle), timeout=5)


def test_healthz_with_insi_manu(mock: Mock, manu_cert: tuple[str, str]) -> None:
    response = requests.get(
        mock.base_url + "/healthz", cert=manu_cert, verify=str(mock.ca_bundle), timeout=5
    )
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_signed_search_finds_dominique_and_is_logged_once(
    mock: Mock, manu: Credential, manu_cert: tuple[str, str]
) -> None:
    before = mock.request_log.read_text() if mock.request_log.exists() else ""

    response = requests.post(
        mock.base_url + "/lps",
        data=signed_search(manu, traits_body(*DOMINIQUE)),
        headers={"Content-Type": soap_content_type()},
        cert=manu_cert,
        verify=str(mock.ca_bundle),
        timeout=10,
    )

    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    r = f"{{{ns.INSI_RESULTAT}}}"
    assert root.findtext(f".//{r}CR/{r}CodeCR") == "00"
    assert root.findtext(f".//{r}INSACTIF/{r}IdIndividu/{r}NumIdentifiant") == "297022A020778"
    new = mock.request_log.read_text()[len(before) :]
    assert new.count("\n") == 1
    assert traits_hash("ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020") in new
    assert '"client_cn":"INSI-MANU"' in new
    assert "ADRTROIS" not in new
    assert "DOMINIQUE" not in new


def test_injected_reset_drops_the_connection_and_the_server_survives(
    dev_pki: DevPki, tmp_dir: Path, manu: Credential, manu_cert: tuple[str, str]
) -> None:
    failing = start(dev_pki, tmp_dir, manu_cert, MOCK_FAILURE_RATE="1", MOCK_FAILURE_MODE="reset")
    base_url, verify = failing.base_url, str(dev_pki.ca_bundle)
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(
                base_url + "/lps",
                data=signed_search(manu, traits_body(*DOMINIQUE)),
                headers={"Content-Type": soap_content_type()},
                cert=manu_cert,
                verify=verify,
                timeout=10,
            )
        health = requests.get(base_url + "/healthz", cert=manu_cert, verify=verify, timeout=5)
        assert health.ok
        assert '"outcome":"reset"' in failing.request_log.read_text()
    finally:
        failing.process.stop()


def test_a_tampered_signature_is_refused_over_mutual_tls(
    mock: Mock, manu: Credential, manu_cert: tuple[str, str]
) -> None:
    signed = sign(assertion(), manu)
    child(signed, ns.SAML2, "Issuer").text = "999999999999999"  # after signing

    response = requests.post(
        mock.base_url + "/lps",
        data=dominique_with(security(signed)),
        headers={"Content-Type": soap_content_type()},
        cert=manu_cert,
        verify=str(mock.ca_bundle),
        timeout=10,
    )

    assert response.status_code == 500
    erreur = etree.fromstring(response.content).find(f".//{{{ns.SIRAM}}}Erreur")
    assert erreur is not None
    assert erreur.get("code") == "DESIR_480"  # VIHF refused


def test_each_fault_answered_is_a_json_line_on_stdout(
    mock: Mock, manu: Credential, manu_cert: tuple[str, str]
) -> None:
    """Issue 8: ops read the mock's faults from its standard output, one JSON line each."""
    message_id = "uuid:7e1f0c3a-5b2d-4c8e-9a61-0f3b5d7c9e21"
    data = envelope(
        traits_body(*DOMINIQUE),
        security_header=security(sign(assertion(), manu)),
        idam="NOT-AN-AUTHORISED-IDAM",
        message_id=message_id,
    )

    response = requests.post(
        mock.base_url + "/lps",
        data=data,
        headers={"Content-Type": soap_content_type()},
        cert=manu_cert,
        verify=str(mock.ca_bundle),
        timeout=10,
    )

    assert response.status_code == 500
    lines = [
        json.loads(line) for line in mock.process.output().splitlines() if line.startswith("{")
    ]
    faults = [line for line in lines if line.get("event") == "fault answered"]
    mine = [line for line in faults if line.get("message_id") == message_id]
    assert len(mine) == 1
    assert (mine[0]["code"], mine[0]["subcode"], mine[0]["error_code"]) == (
        "soap:Sender",
        "siram_100",
        "desir_550",
    )
    assert "ADRTROIS" not in mock.process.output()  # never a trait in clear
