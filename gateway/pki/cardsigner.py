"""Sign a test SAML assertion the way a CPS card middleware does, for CPx-mode tests and demos.

The shape follows the one public recorded INSi card assertion (the fixtures of
padoa/tlsi-ins, a CNDA-approved client): ``Issuer`` is the card certificate's
subject DN in the ``X509SubjectName`` format, the enveloped RSA-SHA256 /
exclusive-C14N signature comes right after it, ``Subject/NameID`` carries the
card identifier with ``NameQualifier="CPS"``, and the attributes are
``identifiantFacturation`` and ``secteurActivite``.

This is development tooling: the gateway itself never signs on a
professional's behalf (``docs/cpx.md``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cryptography import x509
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner

from gateway import ns
from gateway.pki.devcards import CARD_ID, CardFiles
from gateway.pki.names import dn_text

X509_SUBJECT_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def subject_dn(certificate: x509.Certificate) -> str:
    """The certificate's subject as RFC 4514 text, with the names card middlewares use."""
    return dn_text(certificate.subject)


def sign_card_assertion(
    card: CardFiles,
    *,
    name_id: str = CARD_ID,
    issued_at: datetime | None = None,
    lifetime: timedelta | None = timedelta(minutes=30),
    sector: str = "SA07",
    billing_id: str = "123456789",
    chain: tuple[CardFiles, ...] = (),
    issuer: str | None = None,
) -> bytes:
    """A signed card assertion, serialised as UTF-8 (no XML declaration).

    ``lifetime`` None leaves out ``Conditions`` (the recorded sample has none);
    ``chain`` adds CA certificates to ``KeyInfo`` after the card's own;
    ``issuer`` overrides the card's DN (only negative tests want that).
    """
    certificate, key = card.load()
    now = issued_at or datetime.now(UTC)
    dn = issuer if issuer is not None else subject_dn(certificate)
    assertion = _unsigned(dn, name_id, now, lifetime, sector, billing_id)
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod(EXCLUSIVE_C14N),
    )
    certificates = [certificate, *(files.load()[0] for files in chain)]
    signed = signer.sign(
        assertion,
        key=key,
        cert=certificates,
        reference_uri="#" + assertion.get("ID", ""),
        id_attribute="ID",
    )
    return etree.tostring(signed, encoding="utf-8")


def unsigned_card_assertion(*, name_id: str = CARD_ID, issuer: str = "C=FR") -> bytes:
    """The same shape with no signature at all (the negative case an attacker would try)."""
    now = datetime.now(UTC)
    assertion = _unsigned(issuer, name_id, now, timedelta(minutes=30), "SA07", "123456789")
    placeholder = assertion.find(ns.qname(ns.DS, "Signature"))
    if placeholder is not None:
        assertion.remove(placeholder)
    return etree.tostring(assertion, encoding="utf-8")


def _unsigned(
    issuer: str,
    name_id: str,
    now: datetime,
    lifetime: timedelta | None,
    sector: str,
    billing_id: str,
) -> etree._Element:
    assertion = etree.Element(
        ns.qname(ns.SAML2, "Assertion"),
        attrib={"ID": f"_{uuid.uuid4()}", "IssueInstant": _instant(now), "Version": "2.0"},
        nsmap={None: ns.SAML2, "ds": ns.DS},  # type: ignore[dict-item]  # lxml: None = default
    )
    etree.SubElement(
        assertion, ns.qname(ns.SAML2, "Issuer"), Format=X509_SUBJECT_NAME
    ).text = issuer
    etree.SubElement(assertion, ns.qname(ns.DS, "Signature"), Id="placeholder")
    subject = etree.SubElement(assertion, ns.qname(ns.SAML2, "Subject"))
    etree.SubElement(subject, ns.qname(ns.SAML2, "NameID"), NameQualifier="CPS").text = name_id
    if lifetime is not None:
        etree.SubElement(
            assertion,
            ns.qname(ns.SAML2, "Conditions"),
            NotBefore=_instant(now),
            NotOnOrAfter=_instant(now + lifetime),
        )
    statement = etree.SubElement(assertion, ns.qname(ns.SAML2, "AttributeStatement"))
    for name, value in (("identifiantFacturation", billing_id), ("secteurActivite", sector)):
        attribute = etree.SubElement(statement, ns.qname(ns.SAML2, "Attribute"), Name=name)
        etree.SubElement(attribute, ns.qname(ns.SAML2, "AttributeValue")).text = value
    return assertion


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )
