"""CPx mode: checking a professional's card-signed SAML assertion before relaying it.

In CPx mode the teleservice authenticates a health professional by the SAML
assertion their CPS card signed on the workstation; the gateway must relay it
*exactly as received* (its signature is checked again upstream) and must not
relay anything it has not checked first. The checks, in order, each with its
own exception (and problem type):

1. decodable: base64, at most :data:`MAX_ASSERTION_BYTES`, UTF-8, no DTD,
   comment or processing instruction (comments are the classic way to make a
   verifier and a reader see different text), one ``saml:Assertion`` root;
2. not wrapped: the document holds exactly one assertion and one signature,
   a direct child of it, whose single reference is ``#`` + the root's ``ID``;
3. signed, untampered, by a card certificate that chains to ``INSI_CPX_CA``
   (signxml), and what signxml returns as signed is the root itself;
4. ``Issuer`` is the card certificate's subject DN;
5. fresh: ``IssueInstant`` within the window, ``NotBefore``/``NotOnOrAfter``
   honoured when present;
6. ``NameID`` matches the ``X-User-Id`` the application sent, when both exist.

Everything read after the signature check comes from signxml's ``signed_xml``;
what is relayed is the byte string that was verified (:attr:`CardAssertion.relayed`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway import ns
from gateway.exceptions import (
    AssertionExpired,
    AssertionIssuerMismatch,
    AssertionMalformed,
    AssertionSignatureInvalid,
    AssertionUnsigned,
    AssertionUntrusted,
    AssertionUserMismatch,
    AssertionWrapped,
    XmlRejected,
)
from gateway.models import CardAssertion
from gateway.pki.names import same_dn
from gateway.protocol.xml import parse_xml

MAX_ASSERTION_BYTES = 64 * 1024
X509_SUBJECT_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
_ASSERTION = ns.qname(ns.SAML2, "Assertion")
_SIGNATURE = ns.qname(ns.DS, "Signature")
_EXPECT = SignatureConfiguration(location="./", expect_references=1)
_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*\?>\s*")
_DECLARED_ENCODING = re.compile(rb"encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


@dataclass(frozen=True, slots=True)
class CardAssertionPolicy:
    """What the gateway accepts: the card CAs and how fresh an assertion must be."""

    ca_bundle: Path
    max_age: timedelta = timedelta(minutes=10)
    clock_skew: timedelta = timedelta(seconds=60)


def decode_assertion_header(value: str) -> bytes:
    """The bytes of an ``X-INSi-Assertion`` header (standard base64 of the assertion's XML)."""
    compact = "".join(value.split())
    if len(compact) > MAX_ASSERTION_BYTES * 4 // 3 + 4:
        raise AssertionMalformed(f"larger than {MAX_ASSERTION_BYTES} bytes")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise AssertionMalformed("not valid base64") from None


def check_card_assertion(
    raw: bytes, *, policy: CardAssertionPolicy, now: datetime, user_id: str | None
) -> CardAssertion:
    """Run every check on ``raw`` (the assertion's XML) or raise the first one that fails."""
    relayed = _relayable_bytes(raw)
    root = _parsed(relayed)
    assertion_id = _single_signed_assertion(root)
    signed, certificate = _verified(root, assertion_id, policy.ca_bundle)
    issuer = _checked_issuer(signed, certificate)
    issued_at, not_on_or_after = _checked_times(signed, now, policy)
    name_id = _checked_name_id(signed, user_id)
    return CardAssertion(relayed, assertion_id, name_id, issuer, issued_at, not_on_or_after)


def _relayable_bytes(raw: bytes) -> bytes:
    """``raw`` without its XML declaration: it must be UTF-8 (the envelope's encoding)."""
    if len(raw) > MAX_ASSERTION_BYTES:
        raise AssertionMalformed(f"larger than {MAX_ASSERTION_BYTES} bytes")
    declaration = _DECLARATION.match(raw)
    body = raw
    if declaration:
        encoding = _DECLARED_ENCODING.search(declaration.group(0))
        if encoding and encoding.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            raise AssertionMalformed("the assertion must be encoded in UTF-8")
        body = raw[declaration.end() :]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise AssertionMalformed("the assertion is not valid UTF-8") from None
    if b"<!--" in body or b"<?" in body or b"<!" in body:
        raise AssertionMalformed("comments, processing instructions and DTDs are refused")
    return body.strip()


def _parsed(relayed: bytes) -> etree._Element:
    try:
        root = parse_xml(relayed, max_bytes=MAX_ASSERTION_BYTES)
    except XmlRejected as error:
        raise AssertionMalformed(error.message) from None
    if root.tag != _ASSERTION:
        raise AssertionMalformed("the document is not a SAML 2.0 saml:Assertion")
    return root


def _single_signed_assertion(root: etree._Element) -> str:
    """The root's ID, once sure it is the only assertion and carries the only signature."""
    if sum(1 for _ in root.iter(_ASSERTION)) != 1:
        raise AssertionWrapped("the assertion holds another saml:Assertion")
    signatures = list(root.iter(_SIGNATURE))
    if not signatures:
        raise AssertionUnsigned("the assertion carries no ds:Signature")
    if len(signatures) != 1 or signatures[0].getparent() is not root:
        raise AssertionWrapped("the only ds:Signature must be a direct child of the assertion")
    assertion_id = root.get("ID")
    if not assertion_id:
        raise AssertionMalformed("the saml:Assertion has no ID")
    reference = signatures[0].find(
        f"{ns.qname(ns.DS, 'SignedInfo')}/{ns.qname(ns.DS, 'Reference')}"
    )
    if reference is None or reference.get("URI") != f"#{assertion_id}":
        raise AssertionWrapped("the signature does not reference the assertion's own ID")
    return assertion_id


def _verified(
    root: etree._Element, assertion_id: str, ca_bundle: Path
) -> tuple[etree._Element, x509.Certificate]:
    """signxml's ``signed_xml`` (the root itself) and the card certificate that signed it."""
    try:
        result = XMLVerifier().verify(
            root, ca_pem_file=str(ca_bundle), id_attribute="ID", expect_config=_EXPECT
        )
    except InvalidCertificate:
        raise AssertionUntrusted("the card certificate does not chain to INSI_CPX_CA") from None
    except (InvalidDigest, InvalidSignature):
        raise AssertionSignatureInvalid("the signature does not match the content") from None
    except Exception as error:  # signxml, lxml and cryptography raise their own types
        reason = f"signature not verifiable ({type(error).__name__})"
        raise AssertionSignatureInvalid(reason) from None
    if isinstance(result, list):  # not with expect_references=1; keeps the type precise
        raise AssertionWrapped("the signature must have exactly one reference")
    signed = result.signed_xml
    if signed is None or signed.tag != _ASSERTION or signed.get("ID") != assertion_id:
        raise AssertionWrapped("the signature covers something other than the assertion")
    return signed, _signing_certificate(result.signature_xml, result.signature_key)


def _signing_certificate(signature: etree._Element, key_pem: bytes) -> x509.Certificate:
    """The ``KeyInfo`` certificate whose public key signxml verified the signature with."""
    for element in signature.iter(ns.qname(ns.DS, "X509Certificate")):
        der = base64.b64decode("".join((element.text or "").split()))
        certificate = x509.load_der_x509_certificate(der)
        spki = certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if spki == key_pem:
            return certificate
    raise AssertionUntrusted("the signing certificate is not in the signature's KeyInfo")


def _checked_issuer(signed: etree._Element, certificate: x509.Certificate) -> str:
    issuer = signed.find(ns.qname(ns.SAML2, "Issuer"))
    text = (issuer.text or "").strip() if issuer is not None else ""
    if issuer is None or not text or issuer.get("Format") != X509_SUBJECT_NAME:
        raise AssertionIssuerMismatch("Issuer must be the card's DN in X509SubjectName format")
    if not same_dn(text, certificate.subject):
        raise AssertionIssuerMismatch("Issuer is not the signing certificate's subject DN")
    return text


def _checked_times(
    signed: etree._Element, now: datetime, policy: CardAssertionPolicy
) -> tuple[datetime, datetime | None]:
    issued_at = _instant(signed.get("IssueInstant"), "IssueInstant")
    if issued_at > now + policy.clock_skew:
        raise AssertionExpired("IssueInstant is in the future")
    if now - issued_at > policy.max_age + policy.clock_skew:
        raise AssertionExpired(f"issued more than {int(policy.max_age.total_seconds())} s ago")
    conditions = signed.find(ns.qname(ns.SAML2, "Conditions"))
    not_on_or_after = None
    if conditions is not None:
        not_before = conditions.get("NotBefore")
        if not_before and _instant(not_before, "NotBefore") > now + policy.clock_skew:
            raise AssertionExpired("the assertion is not valid yet (NotBefore)")
        if conditions.get("NotOnOrAfter"):
            not_on_or_after = _instant(conditions.get("NotOnOrAfter"), "NotOnOrAfter")
            if now >= not_on_or_after + policy.clock_skew:
                raise AssertionExpired("the assertion has expired (NotOnOrAfter)")
    return issued_at, not_on_or_after


def _instant(value: str | None, attribute: str) -> datetime:
    """An ``xsd:dateTime`` with an explicit offset (``Z`` or ``+hh:mm``)."""
    try:
        moment = datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        raise AssertionMalformed(f"{attribute} is not an xsd:dateTime") from None
    if moment.tzinfo is None:
        raise AssertionMalformed(f"{attribute} has no time zone")
    return moment


def _checked_name_id(signed: etree._Element, user_id: str | None) -> str:
    name_id = signed.find(f"{ns.qname(ns.SAML2, 'Subject')}/{ns.qname(ns.SAML2, 'NameID')}")
    text = (name_id.text or "").strip() if name_id is not None else ""
    if not text:
        raise AssertionMalformed("the assertion has no Subject/NameID")
    if user_id is not None and user_id != text:
        raise AssertionUserMismatch("X-User-Id is not the professional the card identifies")
    return text
