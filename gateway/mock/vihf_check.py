"""Verifying the VIHF the way a careful teleservice would: signature, trust, and wrapping.

A valid XML signature proves only that *some* element was signed by *some*
trusted key. The checks below make sure it is *the* assertion we read:

* ``wsse:Security`` holds exactly one ``saml:Assertion`` (no decoy assertion
  nested or beside it);
* the ``ds:Signature`` is a direct child of that assertion (enveloped) and has
  exactly one reference, whose URI is ``#`` + the assertion's own ``ID``
  (an ID moved to another element, or an empty URI, is refused);
* the chain of the signing certificate ends in the dev CA bundle, and when the
  TLS client certificate is known, the VIHF is signed with that same key (an
  INSI-MANU signature on an INSI-AUTO connection is a caller's bug);
* everything read afterwards (Issuer, subject, attributes) comes from what
  signxml returns as signed (``signed_xml``), never from the received tree.

Then the establishment profile of docs/vihf.md (the shape of the recorded
INSi assertion): ``Issuer`` in ``X509SubjectName`` format naming the signing
certificate's subject, ``Subject/NameID`` with a known ``NameQualifier``, a
``secteurActivite`` of TRE_R02 form, and no ``identifiantFacturation`` (a
professional's billing number, not an establishment's). Each check is its own
function so that other assertion profiles (a card-signed one) can reuse them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway import ns
from gateway.models import ACTIVITY_SECTOR
from gateway.pki.names import same_dn
from gateway.protocol.vihf import (
    ATTR_ACTIVITY_SECTOR,
    ATTR_BILLING_ID,
    NAME_QUALIFIERS,
    X509_SUBJECT_NAME,
)

_ASSERTION = ns.qname(ns.SAML2, "Assertion")
_REFERENCE_PATH = f"{ns.qname(ns.DS, 'SignedInfo')}/{ns.qname(ns.DS, 'Reference')}"
# Signature must be a direct child of the assertion passed in, with one reference.
_NAME_ID_PATH = f"{ns.qname(ns.SAML2, 'Subject')}/{ns.qname(ns.SAML2, 'NameID')}"
_EXPECT = SignatureConfiguration(location="./", expect_references=1)
_CERTIFICATES_PATH = f".//{ns.qname(ns.DS, 'X509Data')}/{ns.qname(ns.DS, 'X509Certificate')}"


class VihfRejectedError(ValueError):
    """The VIHF is missing, unsigned, untrusted or wrapped; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VihfClaims:
    """What the signed assertion says, read from signxml's ``signed_xml`` only."""

    assertion_id: str
    signer_public_key: bytes  # PEM SubjectPublicKeyInfo, as signxml reports it
    issuer: str | None
    subject: str | None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    name_qualifier: str | None = None
    not_on_or_after: str | None = None  # Conditions/@NotOnOrAfter as sent (xsd:dateTime)


def verify_vihf(
    security: tuple[etree._Element, ...],
    *,
    ca_bundle: Path,
    client_public_key: bytes | None = None,
) -> VihfClaims:
    """Verify the one assertion of the one ``wsse:Security`` header.

    Raises :class:`VihfRejectedError` saying why (never echoing the content).
    """
    assertion, assertion_id = single_assertion(security)
    signed, signature, signer_key = verified(assertion, assertion_id, ca_bundle)
    if client_public_key is not None and signer_key != client_public_key:
        raise VihfRejectedError("the VIHF is not signed with the TLS client certificate's key")
    claims = read_claims(signed, assertion_id, signer_key)
    check_issuer(signed, signing_certificate(signature, signer_key))
    check_subject(claims, NAME_QUALIFIERS)
    check_establishment_attributes(claims)
    return claims


def single_assertion(security: tuple[etree._Element, ...]) -> tuple[etree._Element, str]:
    """The one ``saml:Assertion`` (and its ID) of the one ``wsse:Security`` header."""
    if len(security) != 1:
        raise VihfRejectedError(f"expected one wsse:Security header, found {len(security)}")
    assertions = list(security[0].iter(_ASSERTION))
    if len(assertions) != 1 or assertions[0].getparent() is not security[0]:
        found = len(assertions)
        raise VihfRejectedError(
            f"wsse:Security must hold exactly one saml:Assertion, found {found}"
        )
    assertion = assertions[0]
    assertion_id = assertion.get("ID")
    if not assertion_id:
        raise VihfRejectedError("the saml:Assertion has no ID")
    return assertion, assertion_id


def verified(
    assertion: etree._Element, assertion_id: str, ca_bundle: Path
) -> tuple[etree._Element, etree._Element, bytes]:
    """The signed assertion as signxml returns it, its signature and the signer's key."""
    if assertion.find(ns.qname(ns.DS, "Signature")) is None:
        raise VihfRejectedError("the saml:Assertion is not signed")
    try:
        result = XMLVerifier().verify(
            assertion,
            ca_pem_file=str(ca_bundle),
            id_attribute="ID",
            expect_config=_EXPECT,
        )
    except Exception as exc:  # signxml, lxml and cryptography all raise their own types
        raise VihfRejectedError(f"VIHF signature rejected ({type(exc).__name__})") from None
    if isinstance(result, list):  # not with expect_references=1; keeps the type precise
        raise VihfRejectedError("VIHF signature must have exactly one reference")
    references = result.signature_xml.findall(_REFERENCE_PATH)
    if len(references) != 1 or references[0].get("URI") != f"#{assertion_id}":
        raise VihfRejectedError("the VIHF signature does not reference the assertion's own ID")
    signed = result.signed_xml
    if signed is None or signed.tag != _ASSERTION or signed.get("ID") != assertion_id:
        raise VihfRejectedError("the VIHF signature covers something other than the assertion")
    return signed, result.signature_xml, result.signature_key


def signing_certificate(signature: etree._Element, signer_key: bytes) -> x509.Certificate:
    """The certificate of ``KeyInfo`` whose key made the (already verified) signature."""
    for element in signature.iterfind(_CERTIFICATES_PATH):
        try:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        public = certificate.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        if public == signer_key:
            return certificate
    raise VihfRejectedError("the VIHF KeyInfo holds no certificate of the signing key")


def check_issuer(signed: etree._Element, certificate: x509.Certificate) -> None:
    """``Issuer`` names the signing certificate by its subject DN, ``X509SubjectName`` format."""
    issuer = signed.find(ns.qname(ns.SAML2, "Issuer"))
    if issuer is None or issuer.get("Format") != X509_SUBJECT_NAME:
        raise VihfRejectedError(f"the VIHF Issuer must have Format {X509_SUBJECT_NAME}")
    if not issuer_matches(_text(issuer) or "", certificate):
        raise VihfRejectedError("the VIHF Issuer is not the signing certificate's subject DN")


def issuer_matches(issuer: str, certificate: x509.Certificate) -> bool:
    """Whether the DN string ``issuer`` names ``certificate``'s subject (RFC 4514 form)."""
    return same_dn(issuer, certificate.subject)


def check_subject(claims: VihfClaims, qualifiers: frozenset[str]) -> None:
    """``Subject/NameID`` is present and its ``NameQualifier`` is one of ``qualifiers``."""
    if not claims.subject:
        raise VihfRejectedError("the VIHF has no Subject/NameID")
    if claims.name_qualifier not in qualifiers:
        allowed = ", ".join(sorted(qualifiers))
        raise VihfRejectedError(f"the VIHF NameID NameQualifier must be one of: {allowed}")


def check_establishment_attributes(claims: VihfClaims) -> None:
    """One ``secteurActivite`` of TRE_R02 form, and no ``identifiantFacturation``."""
    sectors = claims.attributes.get(ATTR_ACTIVITY_SECTOR, ())
    if len(sectors) != 1 or not ACTIVITY_SECTOR.fullmatch(sectors[0]):
        raise VihfRejectedError(
            f"the VIHF needs one {ATTR_ACTIVITY_SECTOR} attribute, a TRE_R02 code (SA01)"
        )
    if ATTR_BILLING_ID in claims.attributes:
        raise VihfRejectedError(
            f"{ATTR_BILLING_ID} is a professional's billing number: not in an establishment's VIHF"
        )


def read_claims(signed: etree._Element, assertion_id: str, signer_key: bytes) -> VihfClaims:
    attributes: dict[str, tuple[str, ...]] = {}
    for attribute in signed.iter(ns.qname(ns.SAML2, "Attribute")):
        name = attribute.get("Name")
        if name:
            values = attribute.iterfind(ns.qname(ns.SAML2, "AttributeValue"))
            attributes[name] = tuple((value.text or "").strip() for value in values)
    name_id = signed.find(_NAME_ID_PATH)
    return VihfClaims(
        assertion_id=assertion_id,
        signer_public_key=signer_key,
        issuer=_text(signed.find(ns.qname(ns.SAML2, "Issuer"))),
        subject=_text(name_id),
        attributes=attributes,
        name_qualifier=None if name_id is None else name_id.get("NameQualifier"),
        not_on_or_after=_not_on_or_after(signed),
    )


def _not_on_or_after(signed: etree._Element) -> str | None:
    conditions = signed.find(ns.qname(ns.SAML2, "Conditions"))
    return conditions.get("NotOnOrAfter") if conditions is not None else None


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None
