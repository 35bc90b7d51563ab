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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway import ns

_ASSERTION = ns.qname(ns.SAML2, "Assertion")
_REFERENCE_PATH = f"{ns.qname(ns.DS, 'SignedInfo')}/{ns.qname(ns.DS, 'Reference')}"
# Signature must be a direct child of the assertion passed in, with one reference.
_NAME_ID_PATH = f"{ns.qname(ns.SAML2, 'Subject')}/{ns.qname(ns.SAML2, 'NameID')}"
_EXPECT = SignatureConfiguration(location="./", expect_references=1)


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


def verify_vihf(
    security: tuple[etree._Element, ...],
    *,
    ca_bundle: Path,
    client_public_key: bytes | None = None,
) -> VihfClaims:
    """Verify the one assertion of the one ``wsse:Security`` header.

    Raises :class:`VihfRejectedError` saying why (never echoing the content).
    """
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
    signed, signer_key = _verified(assertion, assertion_id, ca_bundle)
    if client_public_key is not None and signer_key != client_public_key:
        raise VihfRejectedError("the VIHF is not signed with the TLS client certificate's key")
    return _claims(signed, assertion_id, signer_key)


def _verified(
    assertion: etree._Element, assertion_id: str, ca_bundle: Path
) -> tuple[etree._Element, bytes]:
    """The signed assertion as signxml returns it (and the signer's key), after the checks."""
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
    return signed, result.signature_key


def _claims(signed: etree._Element, assertion_id: str, signer_key: bytes) -> VihfClaims:
    attributes: dict[str, tuple[str, ...]] = {}
    for attribute in signed.iter(ns.qname(ns.SAML2, "Attribute")):
        name = attribute.get("Name")
        if name:
            values = attribute.iterfind(ns.qname(ns.SAML2, "AttributeValue"))
            attributes[name] = tuple((value.text or "").strip() for value in values)
    return VihfClaims(
        assertion_id=assertion_id,
        signer_public_key=signer_key,
        issuer=_text(signed.find(ns.qname(ns.SAML2, "Issuer"))),
        subject=_text(signed.find(_NAME_ID_PATH)),
        attributes=attributes,
    )


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None
