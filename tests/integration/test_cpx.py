"""CPx mode end to end: a card-signed assertion relayed through the real gateway to the real mock.

The mock runs as the CPx endpoint (``MOCK_AUTH=cpx``: server-only TLS, a card
assertion verified against the test card CA) and keeps what it received
(``MOCK_CAPTURE_DIR``), so the relayed assertion is re-verified here from the
envelope that arrived, with signxml and with xmlsec1. Every refusal must
happen before any upstream call: the mock's request log must not grow.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from lxml import etree
from signxml.verifier import XMLVerifier

from gateway import ns
from gateway.pki.cardsigner import sign_card_assertion, unsigned_card_assertion
from gateway.pki.devcards import CARD_ID, DevCards, generate_dev_cards
from gateway.pki.devpki import DevPki
from tests.integration.conftest import (
    GatewayFactory,
    GatewayServer,
    MockServer,
    cli,
    register_app,
    start_mock,
)

pytestmark = pytest.mark.integration

ADRTROIS = {
    "birth_name": "ADRTROIS",
    "first_names": ["DOMINIQUE"],
    "sex": "F",
    "birth_date": "1997-02-26",
    "birth_place": "2A020",
}


@pytest.fixture(scope="module")
def cards(dev_pki: DevPki) -> DevCards:
    return generate_dev_cards(dev_pki.directory)


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cpx-capture")


@pytest.fixture(scope="module")
def cpx_mock(
    dev_pki: DevPki, log_dir: Path, cards: DevCards, capture_dir: Path
) -> Iterator[MockServer]:
    server = start_mock(
        dev_pki, log_dir, MOCK_AUTH="cpx", MOCK_CAPTURE_DIR=str(capture_dir)
    )
    yield server
    server.process.stop()


@pytest.fixture(scope="module")
def cpx_gateway(
    gateway_factory: GatewayFactory, mock_server: MockServer, cpx_mock: MockServer, cards: DevCards
) -> GatewayServer:
    return gateway_factory(
        mock_server.url, INSI_CPX_URL=cpx_mock.url, INSI_CPX_CA=str(cards.ca_bundle)
    )


@pytest.fixture(scope="module")
def keys(cpx_gateway: GatewayServer) -> dict[str, str]:
    """One application per mode set: CPx only, certificate only, both."""
    return {
        modes: register_app(
            cpx_gateway.env, f"cpx-{modes.replace(',', '-')}", "--modes", modes,
            "--rate", "1000", "--burst", "1000",
        )
        for modes in ("cpx", "certificate", "certificate,cpx")
    }


def _header(raw: bytes) -> dict[str, str]:
    return {"X-INSi-Assertion": base64.b64encode(raw).decode()}


def _valid(cards: DevCards, **kwargs: Any) -> bytes:
    return sign_card_assertion(cards.card, chain=(cards.card_ca,), **kwargs)


def test_a_valid_card_assertion_finds_adrtrois_through_the_cpx_endpoint(
    cpx_gateway: GatewayServer,
    cpx_mock: MockServer,
    mock_server: MockServer,
    keys: dict[str, str],
    cards: DevCards,
) -> None:
    before = len(mock_server.logged_requests())
    assertion = _valid(cards)
    response = cpx_gateway.post(
        "/v1/ins/search", ADRTROIS, key=keys["cpx"], headers=_header(assertion)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "found"
    assert body["ins"]["matricule"] == "297022A020778"
    entry = cpx_mock.logged_requests()[-1]
    assert entry["signed"] is True
    assert entry["vihf_subject"] == CARD_ID
    assert entry["client_cn"] is None  # server-only TLS: no client certificate was presented
    assert len(mock_server.logged_requests()) == before  # nothing went to the mTLS endpoint


def test_the_relayed_assertion_is_byte_for_byte_and_verifies_at_the_mock(
    cpx_gateway: GatewayServer, keys: dict[str, str], cards: DevCards, capture_dir: Path
) -> None:
    for old in capture_dir.glob("*.xml"):
        old.unlink()
    assertion = _valid(cards, sector="SA05")
    response = cpx_gateway.post(
        "/v1/ins/search", ADRTROIS, key=keys["cpx"], headers=_header(assertion)
    )
    assert response.status_code == 200, response.text
    (received,) = list(capture_dir.glob("*.xml"))
    envelope = received.read_bytes()
    assert assertion in envelope  # exactly the bytes the card middleware produced
    root = etree.fromstring(envelope)
    security = root.find(f".//{ns.qname(ns.WSSE, 'Security')}")
    assert security is not None
    assert len(security) == 1
    relayed = security[0]
    result = XMLVerifier().verify(relayed, ca_pem_file=str(cards.ca_bundle), id_attribute="ID")
    assert not isinstance(result, list)
    assert result.signed_xml is not None
    assert result.signed_xml.get("ID") == relayed.get("ID")
    _xmlsec1_verifies(received, cards)


def _xmlsec1_verifies(envelope: Path, cards: DevCards) -> None:
    xmlsec1 = shutil.which("xmlsec1")
    assert xmlsec1, "xmlsec1 (Debian package xmlsec1) is required; scripts/test installs it"
    completed = subprocess.run(
        [
            xmlsec1, "--verify",
            "--trusted-pem", str(cards.root_ca.certificate),
            "--untrusted-pem", str(cards.card_ca.certificate),
            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            str(envelope),
        ],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr


def _refusals(cards: DevCards) -> dict[str, tuple[list[str], str]]:
    """Each bad input (header values) and the problem type slug it must get."""
    now = datetime.now(UTC)
    valid = _valid(cards)
    b64 = base64.b64encode
    wrapped = (
        f'<Assertion xmlns="{ns.SAML2}" ID="_outer" IssueInstant="{now:%Y-%m-%dT%H:%M:%SZ}" '
        f'Version="2.0"><Issuer>x</Issuer><Advice>{valid.decode()}</Advice></Assertion>'
    ).encode()
    return {
        "expired": (
            [b64(_valid(cards, issued_at=now - timedelta(hours=3), lifetime=None)).decode()],
            "assertion-expired",
        ),
        "altered": (
            [b64(valid.replace(b">SA07<", b">SA01<")).decode()],
            "assertion-signature-invalid",
        ),
        "unsigned": ([b64(unsigned_card_assertion()).decode()], "assertion-unsigned"),
        "wrapped": ([b64(wrapped).decode()], "assertion-wrapped"),
        "wrong_ca": (
            [b64(sign_card_assertion(cards.rogue_card, chain=(cards.rogue_ca,))).decode()],
            "assertion-untrusted",
        ),
        "second_assertion": ([b64(valid).decode(), b64(valid).decode()], "assertion-wrapped"),
        "not_base64": (["%%%"], "assertion-malformed"),
    }


@pytest.mark.parametrize(
    "case",
    ["expired", "altered", "unsigned", "wrapped", "wrong_ca", "second_assertion", "not_base64"],
)
def test_each_bad_assertion_is_refused_before_any_upstream_call(
    case: str, cpx_gateway: GatewayServer, cpx_mock: MockServer, keys: dict[str, str],
    cards: DevCards,
) -> None:
    values, slug = _refusals(cards)[case]
    before = len(cpx_mock.logged_requests())
    headers = urllib3.HTTPHeaderDict(
        {"Authorization": f"Bearer {keys['cpx']}", "Content-Type": "application/json"}
    )
    for value in values:  # repeated header lines: the second assertion case
        headers.add("X-INSi-Assertion", value)
    with urllib3.PoolManager(ca_certs=str(cpx_gateway.ca_bundle)) as pool:
        response = pool.request(
            "POST",
            cpx_gateway.base_url + "/v1/ins/search",
            body=json.dumps(ADRTROIS).encode(),
            headers=headers,
            timeout=30.0,
        )
    assert response.status in (400, 403), response.data
    problem = response.json()
    assert problem["type"] == f"urn:insi-gateway:problem:{slug}"
    assert slug.endswith(problem["check"])
    assert len(cpx_mock.logged_requests()) == before
    assert _journaled(cpx_gateway, problem["request_id"]) == slug


def _journal(gateway: GatewayServer, request_id: str) -> list[dict[str, Any]]:
    lines = cli(gateway.env, "audit", "export", "--format", "jsonl").splitlines()
    records = [json.loads(line) for line in lines]
    return [record for record in records if record.get("request_id") == request_id]


def _journaled(gateway: GatewayServer, request_id: str) -> str | None:
    outcomes = [record["outcome"] for record in _journal(gateway, request_id)]
    return outcomes[-1] if outcomes else None


def test_modes_are_enforced_per_application(
    cpx_gateway: GatewayServer, keys: dict[str, str], cards: DevCards
) -> None:
    assertion = _header(_valid(cards))
    certificate_only = cpx_gateway.post(
        "/v1/ins/search", ADRTROIS, key=keys["certificate"], headers=assertion
    )
    assert certificate_only.status_code == 403
    assert certificate_only.json()["type"] == "urn:insi-gateway:problem:mode-forbidden"
    cpx_only = cpx_gateway.post("/v1/ins/search", ADRTROIS, key=keys["cpx"])
    assert cpx_only.status_code == 403
    assert cpx_only.json()["type"] == "urn:insi-gateway:problem:mode-forbidden"
    both = keys["certificate,cpx"]
    assert cpx_gateway.post("/v1/ins/search", ADRTROIS, key=both).status_code == 200
    assert cpx_gateway.post(
        "/v1/ins/search", ADRTROIS, key=both, headers=assertion
    ).status_code == 200


def test_the_journal_records_the_mode_and_the_professional(
    cpx_gateway: GatewayServer, keys: dict[str, str], cards: DevCards
) -> None:
    response = cpx_gateway.post(
        "/v1/ins/search", ADRTROIS, key=keys["cpx"], headers=_header(_valid(cards))
    )
    assert response.status_code == 200
    records = _journal(cpx_gateway, response.json()["request_id"])
    modes = {(record.get("cert_mode"), record.get("user_id")) for record in records}
    assert ("CPX", CARD_ID) in modes
    assert base64.b64encode(_valid(cards))[:40].decode() not in cpx_gateway.process.output()


def test_an_x_user_id_other_than_the_card_holder_is_refused(
    cpx_gateway: GatewayServer, keys: dict[str, str], cards: DevCards
) -> None:
    response = cpx_gateway.post(
        "/v1/ins/search",
        ADRTROIS,
        key=keys["cpx"],
        headers={**_header(_valid(cards)), "X-User-Id": "someone-else"},
    )
    assert response.status_code == 403
    assert response.json()["type"] == "urn:insi-gateway:problem:assertion-user-mismatch"


def test_soap_carries_the_assertion_in_its_cardassertion_header(
    cpx_gateway: GatewayServer, cpx_mock: MockServer, keys: dict[str, str], cards: DevCards
) -> None:
    value = base64.b64encode(_valid(cards)).decode()
    envelope = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"
               xmlns:gw="urn:insi-gateway:soap:v1">
  <soap:Header><gw:CardAssertion><gw:assertion>{value}</gw:assertion></gw:CardAssertion></soap:Header>
  <soap:Body>
    <gw:searchByTraits>
      <gw:birth_name>ADRTROIS</gw:birth_name><gw:first_names>DOMINIQUE</gw:first_names>
      <gw:sex>F</gw:sex><gw:birth_date>1997-02-26</gw:birth_date>
      <gw:birth_place>2A020</gw:birth_place>
    </gw:searchByTraits>
  </soap:Body>
</soap:Envelope>""".encode()
    before = len(cpx_mock.logged_requests())
    response = requests.post(
        cpx_gateway.base_url + "/soap12",
        data=envelope,
        headers={
            "Content-Type": "application/soap+xml; charset=utf-8",
            "Authorization": f"Bearer {keys['cpx']}",
        },
        verify=str(cpx_gateway.ca_bundle),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert b"297022A020778" in response.content
    assert len(cpx_mock.logged_requests()) == before + 1
    assert cpx_mock.logged_requests()[-1]["vihf_subject"] == CARD_ID


def test_the_published_wsdls_declare_the_cardassertion_header(cpx_gateway: GatewayServer) -> None:
    for path in ("/soap", "/soap12"):
        wsdl = requests.get(
            cpx_gateway.base_url + path + "?wsdl", verify=str(cpx_gateway.ca_bundle), timeout=30
        )
        assert wsdl.status_code == 200
        root = etree.fromstring(wsdl.content)
        headers = root.findall(".//{*}binding/{*}operation/{*}input/{*}header")
        operations = root.findall(".//{*}binding/{*}operation")
        assert len(operations) == 3
        assert len(headers) == len(operations), f"{path}: every operation declares the header"
        assert b"CardAssertion" in wsdl.content
