"""The mock's CPx endpoint (``MOCK_AUTH=cpx``) judges card assertions as the teleservice would.

The gateway refuses bad assertions before relaying them, so the mock's own
refusals are exercised here directly on its WSGI app: without any client
certificate (server-only TLS), a valid card assertion finds ADRTROIS
DOMINIQUE and an expired, altered, unsigned or wrapped one gets DESIR_480.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from werkzeug.test import Client, TestResponse

from gateway import ns
from gateway.mock import MockSettings, create_mock_app
from gateway.pki.cardsigner import sign_card_assertion, unsigned_card_assertion
from gateway.pki.devcards import DevCards, generate_dev_cards
from gateway.pki.devpki import DevPki
from tests.unit.test_mock_app import (
    DOMINIQUE,
    VIHF_REJECTED,
    FakeTlsSocket,
    envelope,
    fault,
    r_text,
    result,
    soap_content_type,
    traits_body,
)


@pytest.fixture(scope="module")
def cards(dev_pki: DevPki) -> DevCards:
    return generate_dev_cards(dev_pki.directory)


@pytest.fixture
def cpx_call(dev_pki: DevPki, cards: DevCards, tmp_path: Path) -> Client:
    env = {"MOCK_AUTH": "cpx", "MOCK_REQUEST_LOG": str(tmp_path / "requests.jsonl")}
    return Client(create_mock_app(MockSettings.from_env(env, pki_dir=dev_pki.directory)))


def _post(client: Client, card_assertion: bytes) -> TestResponse:
    security = etree.Element(ns.qname(ns.WSSE, "Security"), nsmap={"wsse": ns.WSSE})
    security.append(etree.fromstring(card_assertion))
    data = envelope(traits_body(*DOMINIQUE), security_header=security)
    return client.post(
        "/lps",
        data=data,
        headers={"Content-Type": soap_content_type()},
        environ_overrides={"gunicorn.socket": FakeTlsSocket(None)},  # no client certificate
    )


def test_a_valid_card_assertion_is_answered_without_a_client_certificate(
    cpx_call: Client, cards: DevCards, reference_dir: Path
) -> None:
    response = _post(cpx_call, sign_card_assertion(cards.card, chain=(cards.card_ca,)))
    assert response.status_code == 200, response.data
    assert r_text(result(response, reference_dir), "CR/CodeCR") == "00"


@pytest.mark.parametrize("case", ["expired", "altered", "unsigned", "wrapped", "wrong_ca"])
def test_a_bad_card_assertion_gets_the_teleservice_fault(
    case: str, cpx_call: Client, cards: DevCards, reference_dir: Path
) -> None:
    now = datetime.now(UTC)
    valid = sign_card_assertion(cards.card, chain=(cards.card_ca,))
    bad = {
        "expired": sign_card_assertion(
            cards.card, issued_at=now - timedelta(hours=2), lifetime=timedelta(minutes=30)
        ),
        "altered": valid.replace(b">SA07<", b">SA01<"),
        "unsigned": unsigned_card_assertion(),
        "wrapped": (
            f'<Assertion xmlns="{ns.SAML2}" ID="_outer" IssueInstant="2026-01-01T00:00:00Z" '
            f'Version="2.0"><Issuer>x</Issuer><Advice>{valid.decode()}</Advice></Assertion>'
        ).encode(),
        "wrong_ca": sign_card_assertion(cards.rogue_card, chain=(cards.rogue_ca,)),
    }[case]
    assert bad != valid
    response = _post(cpx_call, bad)
    got = fault(response, reference_dir)
    assert {key: got[key] for key in VIHF_REJECTED} == VIHF_REJECTED
