"""The mock's VIHF check holds the gateway to the establishment profile of docs/vihf.md.

Each refused variant is a well-signed assertion (the change is made before
signing), so what refuses it is the profile check, not the signature.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from lxml import etree

from gateway import ns
from gateway.mock.vihf_check import VihfRejectedError, verify_vihf
from gateway.models import CallContext
from gateway.pki.credentials import load_credential
from gateway.pki.devpki import DevPki
from gateway.protocol.signing import VihfSigner
from gateway.protocol.vihf import build_assertion

SAML = {"saml": ns.SAML2}
NOW = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
AUTO_DN = "CN=INSI-AUTO,OU=499700000000001,O=CH DEMO INSI-GATEWAY,C=FR"


@pytest.fixture(scope="module")
def signer(dev_pki: DevPki) -> VihfSigner:
    credential = load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="TEST")
    return VihfSigner(credential)


def security(
    signer: VihfSigner,
    change: Callable[[etree._Element], None] = lambda _: None,
    *,
    issuer: str | None = None,
    user_id: str | None = "nurse.martin",
) -> tuple[etree._Element, ...]:
    context = CallContext(request_id="r", message_id="m", user_id=user_id, activity_sector="SA03")
    unsigned = build_assertion(
        issuer=issuer or signer.issuer, structure_id="499700000000001", context=context, now=NOW
    )
    change(unsigned)
    return (signer.security_header(signer.sign(unsigned)),)


def refused(headers: tuple[etree._Element, ...], dev_pki: DevPki) -> str:
    with pytest.raises(VihfRejectedError) as caught:
        verify_vihf(headers, ca_bundle=dev_pki.ca_bundle)
    return caught.value.reason


def test_the_gateways_assertion_passes_and_its_claims_are_read(
    signer: VihfSigner, dev_pki: DevPki
) -> None:
    claims = verify_vihf(security(signer), ca_bundle=dev_pki.ca_bundle)

    assert claims.issuer == "CN=INSI-MANU,OU=499700000000001,O=CH DEMO INSI-GATEWAY,C=FR"
    assert (claims.subject, claims.name_qualifier) == ("nurse.martin", "UTILISATEUR")
    assert dict(claims.attributes) == {"secteurActivite": ("SA03",)}


def test_without_a_user_the_structure_is_the_subject(signer: VihfSigner, dev_pki: DevPki) -> None:
    claims = verify_vihf(security(signer, user_id=None), ca_bundle=dev_pki.ca_bundle)

    assert (claims.subject, claims.name_qualifier) == ("499700000000001", "STRUCTURE")


def test_an_issuer_without_the_x509_subject_name_format_is_refused(
    signer: VihfSigner, dev_pki: DevPki
) -> None:
    def drop_format(element: etree._Element) -> None:
        del element.find("saml:Issuer", SAML).attrib["Format"]  # type: ignore[union-attr]

    assert "Format" in refused(security(signer, drop_format), dev_pki)


def test_an_issuer_naming_another_certificate_is_refused(
    signer: VihfSigner, dev_pki: DevPki
) -> None:
    """Signed with INSI-MANU but claiming to be INSI-AUTO."""
    reason = refused(security(signer, issuer=AUTO_DN), dev_pki)

    assert "subject DN" in reason


def test_a_name_id_without_a_known_qualifier_is_refused(
    signer: VihfSigner, dev_pki: DevPki
) -> None:
    def unqualified(element: etree._Element) -> None:
        del element.find("saml:Subject/saml:NameID", SAML).attrib["NameQualifier"]  # type: ignore[union-attr]

    assert "NameQualifier" in refused(security(signer, unqualified), dev_pki)


@pytest.mark.parametrize("sector", ["", "01", "SA1", "XX01"])
def test_an_activity_sector_not_of_tre_r02_form_is_refused(
    signer: VihfSigner, dev_pki: DevPki, sector: str
) -> None:
    def bad_sector(element: etree._Element) -> None:
        path = "saml:AttributeStatement/saml:Attribute/saml:AttributeValue"
        element.find(path, SAML).text = sector  # type: ignore[union-attr]

    assert "secteurActivite" in refused(security(signer, bad_sector), dev_pki)


def test_a_billing_id_is_refused_in_an_establishment_assertion(
    signer: VihfSigner, dev_pki: DevPki
) -> None:
    def add_billing(element: etree._Element) -> None:
        statement = element.find("saml:AttributeStatement", SAML)
        attribute = etree.SubElement(statement, ns.qname(ns.SAML2, "Attribute"))  # type: ignore[arg-type]
        attribute.set("Name", "identifiantFacturation")
        etree.SubElement(attribute, ns.qname(ns.SAML2, "AttributeValue")).text = "123456789"

    assert "identifiantFacturation" in refused(security(signer, add_billing), dev_pki)
