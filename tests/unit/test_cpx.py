"""CPx mode: every check on a card-signed assertion (gateway.protocol.cpx), with test cards.

The assertions are signed here by the test card tooling, the way a card
middleware would; each negative case changes one thing and expects the
check that names it.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from gateway import exceptions as exc
from gateway import ns
from gateway.pki.cardsigner import sign_card_assertion, subject_dn, unsigned_card_assertion
from gateway.pki.devcards import CARD_ID, DevCards, generate_dev_cards
from gateway.pki.devpki import DevPki
from gateway.protocol.cpx import (
    CardAssertionPolicy,
    check_card_assertion,
    decode_assertion_header,
)
from gateway.render.problems import problem_kind


@pytest.fixture(scope="module")
def cards(dev_pki: DevPki) -> DevCards:
    return generate_dev_cards(dev_pki.directory)


@pytest.fixture(scope="module")
def policy(cards: DevCards) -> CardAssertionPolicy:
    return CardAssertionPolicy(ca_bundle=cards.ca_bundle)


@pytest.fixture(scope="module")
def valid(cards: DevCards) -> bytes:
    return sign_card_assertion(cards.card, chain=(cards.card_ca,))


def _check(raw: bytes, policy: CardAssertionPolicy, **kwargs: object) -> object:
    now = kwargs.pop("now", datetime.now(UTC))
    user = kwargs.pop("user_id", None)
    return check_card_assertion(raw, policy=policy, now=now, user_id=user)  # type: ignore[arg-type]


def test_a_valid_card_assertion_is_accepted_and_relayed_as_received(
    valid: bytes, policy: CardAssertionPolicy, cards: DevCards
) -> None:
    checked = check_card_assertion(valid, policy=policy, now=datetime.now(UTC), user_id=CARD_ID)
    assert checked.relayed == valid
    assert checked.name_id == CARD_ID
    certificate, _ = cards.card.load()
    assert checked.issuer == subject_dn(certificate)


def test_an_xml_declaration_is_dropped_but_nothing_else_changes(
    valid: bytes, policy: CardAssertionPolicy
) -> None:
    declared = b'<?xml version="1.0" encoding="UTF-8"?>\n' + valid
    checked = check_card_assertion(declared, policy=policy, now=datetime.now(UTC), user_id=None)
    assert checked.relayed == valid


def test_the_recorded_dn_spelling_of_card_middlewares_matches_the_certificate(
    cards: DevCards,
) -> None:
    """``T=``/``SN=``/``G=`` and dotted OIDs, as in the recorded INSi sample, are understood."""
    certificate, _ = cards.card.load()
    assert subject_dn(certificate).endswith(",T=Medecin,C=FR")
    assert f"CN={CARD_ID}" in subject_dn(certificate)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("altered", exc.AssertionSignatureInvalid),
        ("unsigned", exc.AssertionUnsigned),
        ("wrong_ca", exc.AssertionUntrusted),
        ("expired", exc.AssertionExpired),
        ("past_not_on_or_after", exc.AssertionExpired),
        ("future", exc.AssertionExpired),
        ("wrapped", exc.AssertionWrapped),
        ("two_signatures", exc.AssertionWrapped),
        ("comment", exc.AssertionMalformed),
        ("not_an_assertion", exc.AssertionMalformed),
        ("latin1", exc.AssertionMalformed),
        ("doctype", exc.AssertionMalformed),
    ],
)
def test_each_bad_assertion_is_refused_by_the_check_that_names_it(
    name: str,
    expected: type[exc.AssertionRefused],
    valid: bytes,
    cards: DevCards,
    policy: CardAssertionPolicy,
) -> None:
    now = datetime.now(UTC)
    raw = valid
    if name == "altered":  # one attribute value changed after signing
        raw = valid.replace(b"<AttributeValue>SA07<", b"<AttributeValue>SA01<")
        assert raw != valid
    elif name == "unsigned":
        raw = unsigned_card_assertion(issuer=subject_dn(cards.card.load()[0]))
    elif name == "wrong_ca":
        raw = sign_card_assertion(cards.rogue_card, chain=(cards.rogue_ca,))
    elif name == "expired":
        raw = sign_card_assertion(cards.card, issued_at=now - timedelta(hours=2), lifetime=None)
    elif name == "past_not_on_or_after":
        raw = sign_card_assertion(
            cards.card, issued_at=now - timedelta(minutes=5), lifetime=timedelta(minutes=2)
        )
    elif name == "future":
        raw = sign_card_assertion(cards.card, issued_at=now + timedelta(hours=1))
    elif name == "wrapped":  # the signed assertion hidden inside an unsigned one
        inner = valid.decode()
        raw = (
            f'<Assertion xmlns="{ns.SAML2}" ID="_evil" IssueInstant="2026-01-01T00:00:00Z" '
            f'Version="2.0"><Issuer>x</Issuer><Advice>{inner}</Advice></Assertion>'
        ).encode()
    elif name == "two_signatures":
        root = etree.fromstring(valid)
        signature = root.find(ns.qname(ns.DS, "Signature"))
        assert signature is not None
        root.append(etree.fromstring(etree.tostring(signature)))
        raw = etree.tostring(root)
    elif name == "comment":
        hidden = f">{CARD_ID[:3]}<!---->{CARD_ID[3:]}<"
        raw = valid.replace(f">{CARD_ID}<".encode(), hidden.encode())
    elif name == "not_an_assertion":
        raw = b"<Response xmlns='urn:oasis:names:tc:SAML:2.0:protocol'/>"
    elif name == "latin1":
        raw = b'<?xml version="1.0" encoding="ISO-8859-1"?>' + valid
    elif name == "doctype":
        raw = b"<!DOCTYPE a [<!ENTITY x 'y'>]>" + valid
    with pytest.raises(expected) as refused:
        check_card_assertion(raw, policy=policy, now=now, user_id=None)
    kind = problem_kind(refused.value)
    assert kind.slug == f"assertion-{expected.check}"
    assert 400 <= kind.status < 500


def test_issuer_not_the_signers_dn_is_refused(cards: DevCards, policy: CardAssertionPolicy) -> None:
    """A card that signs an assertion claiming another professional's DN."""
    raw = sign_card_assertion(
        cards.card, chain=(cards.card_ca,), issuer="CN=SOMEONE ELSE,T=Medecin,C=FR"
    )
    with pytest.raises(exc.AssertionIssuerMismatch):
        check_card_assertion(raw, policy=policy, now=datetime.now(UTC), user_id=None)


def test_an_edited_issuer_breaks_the_signature(
    valid: bytes, cards: DevCards, policy: CardAssertionPolicy
) -> None:
    certificate, _ = cards.card.load()
    forged = valid.replace(subject_dn(certificate).encode(), b"CN=SOMEONE ELSE,C=FR")
    assert forged != valid
    with pytest.raises(exc.AssertionSignatureInvalid):
        check_card_assertion(forged, policy=policy, now=datetime.now(UTC), user_id=None)


def test_a_nameid_other_than_the_user_id_is_refused(
    valid: bytes, policy: CardAssertionPolicy
) -> None:
    with pytest.raises(exc.AssertionUserMismatch):
        check_card_assertion(valid, policy=policy, now=datetime.now(UTC), user_id="another")


def test_the_header_is_strict_base64(valid: bytes) -> None:
    assert decode_assertion_header(base64.b64encode(valid).decode()) == valid
    with pytest.raises(exc.AssertionMalformed):
        decode_assertion_header("not*base64")
    with pytest.raises(exc.AssertionMalformed):
        decode_assertion_header("A" * 200_000)


def test_the_test_assertion_verifies_with_xmlsec1(
    valid: bytes, cards: DevCards, tmp_path: Path
) -> None:
    """An independent implementation accepts what the card tooling signs."""
    xmlsec1 = shutil.which("xmlsec1")
    assert xmlsec1, "xmlsec1 (Debian package xmlsec1) is required; scripts/test installs it"
    document = tmp_path / "assertion.xml"
    document.write_bytes(valid)
    result = subprocess.run(
        [
            xmlsec1,
            "--verify",
            "--trusted-pem",
            str(cards.root_ca.certificate),
            "--untrusted-pem",
            str(cards.card_ca.certificate),
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            str(document),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr
