"""The VIHF assertion, its enveloped signature, and the wsse:Security header around it."""

from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree
from signxml.exceptions import InvalidSignature
from signxml.verifier import VerifyResult, XMLVerifier

from gateway import ns
from gateway.exceptions import SigningError
from gateway.mock.contract import validate_element
from gateway.models import CallContext, SoftwareIdentity
from gateway.pki.credentials import Credential, load_credential
from gateway.pki.devpki import DevPki
from gateway.protocol.signing import VihfSigner, security_header
from gateway.protocol.vihf import build_assertion

STRUCTURE_ID = "499700000000001"
SOFTWARE = SoftwareIdentity(
    idam="GW-IDAM-0042", name="insi-gateway", version="1.2.3", instance="node-7"
)
NOW = datetime(2026, 11, 23, 19, 0, 0, 123000, tzinfo=UTC)
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SAML = {"saml": ns.SAML2, "ds": ns.DS}


def context(user_id: str | None = None) -> CallContext:
    return CallContext(
        request_id="req-1", message_id="uuid:00000000-0000-4000-8000-000000000001", user_id=user_id
    )


def assertion(user_id: str | None = None, now: datetime = NOW) -> etree._Element:
    return build_assertion(
        structure_id=STRUCTURE_ID, software=SOFTWARE, context=context(user_id), now=now
    )


@pytest.fixture(scope="module")
def credential(dev_pki: DevPki) -> Credential:
    return load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="TEST_CERT")


@pytest.fixture(scope="module")
def signer(credential: Credential) -> VihfSigner:
    return VihfSigner(credential)


def verify(signed: etree._Element, dev_pki: DevPki) -> VerifyResult:
    result = XMLVerifier().verify(
        signed, ca_pem_file=str(dev_pki.ca_bundle), expect_references=1, id_attribute="ID"
    )
    assert isinstance(result, VerifyResult)
    return result


def attributes(element: etree._Element) -> dict[str, str]:
    found = element.findall("saml:AttributeStatement/saml:Attribute", SAML)
    return {
        a.get("Name", ""): a.findtext("saml:AttributeValue", namespaces=SAML) or "" for a in found
    }


# --- the assertion -------------------------------------------------------------------------


def test_assertion_layout() -> None:
    element = assertion()

    assert element.tag == ns.qname(ns.SAML2, "Assertion")
    assert re.fullmatch(r"_[0-9a-f]{32}", element.get("ID", ""))
    assert element.get("Version") == "2.0"
    assert element.get("IssueInstant") == "2026-11-23T19:00:00.123Z"
    assert [etree.QName(child).localname for child in element] == [
        "Issuer", "Signature", "Subject", "Conditions", "AuthnStatement", "AttributeStatement",
    ]  # fmt: skip
    assert element.findtext("saml:Issuer", namespaces=SAML) == STRUCTURE_ID
    assert element[1].get("Id") == "placeholder"
    conditions = element.find("saml:Conditions", SAML)
    assert conditions is not None
    assert conditions.get("NotBefore") == "2026-11-23T19:00:00.123Z"
    assert conditions.get("NotOnOrAfter") == "2026-11-23T19:05:00.123Z"


def test_ids_are_unique() -> None:
    assert assertion().get("ID") != assertion().get("ID")


def test_subject_is_the_user_when_known_else_the_structure() -> None:
    with_user = assertion(user_id="jdupont")
    without_user = assertion()

    assert with_user.findtext("saml:Subject/saml:NameID", namespaces=SAML) == "jdupont"
    assert without_user.findtext("saml:Subject/saml:NameID", namespaces=SAML) == STRUCTURE_ID
    assert attributes(with_user)["urn:oasis:names:tc:xspa:1.0:subject:subject-id"] == "jdupont"


def test_attributes_describe_structure_and_software() -> None:
    values = attributes(assertion())

    assert values["Identifiant_Structure"] == STRUCTURE_ID
    assert values["Authentification_mode"] == "INDIRECTE"
    assert values["LPS_Nom"] == "insi-gateway"
    assert values["LPS_Version"] == "1.2.3"
    assert values["LPS_ID_HOMOLOGATION_DMP"] == "GW-IDAM-0042"


# --- the signature -------------------------------------------------------------------------


def test_signature_verifies_and_references_the_assertion(
    signer: VihfSigner, dev_pki: DevPki
) -> None:
    unsigned = assertion()
    assertion_id = unsigned.get("ID")

    signed = signer.sign(unsigned)
    result = verify(signed, dev_pki)

    assert result.signed_xml is not None
    assert result.signed_xml.tag == ns.qname(ns.SAML2, "Assertion")
    assert result.signed_xml.get("ID") == assertion_id
    reference = signed.find("ds:Signature/ds:SignedInfo/ds:Reference", SAML)
    assert reference is not None
    assert reference.get("URI") == f"#{assertion_id}"


def test_signature_algorithms_and_position(signer: VihfSigner) -> None:
    signed = signer.sign(assertion())
    signature = signed[1]

    assert signature.tag == ns.qname(ns.DS, "Signature")
    assert signature.get("Id") is None
    info = "ds:SignedInfo/"
    assert signature.find(info + "ds:CanonicalizationMethod", SAML).get("Algorithm") == EXC_C14N  # type: ignore[union-attr]
    assert (
        signature.find(info + "ds:SignatureMethod", SAML).get("Algorithm")  # type: ignore[union-attr]
        == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    assert (
        signature.find(info + "ds:Reference/ds:DigestMethod", SAML).get("Algorithm")  # type: ignore[union-attr]
        == "http://www.w3.org/2001/04/xmlenc#sha256"
    )
    transforms = signature.findall(info + "ds:Reference/ds:Transforms/ds:Transform", SAML)
    assert [t.get("Algorithm") for t in transforms] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        EXC_C14N,
    ]


def test_key_info_carries_the_signing_certificate(
    signer: VihfSigner, credential: Credential
) -> None:
    signed = signer.sign(assertion())
    first = signed.findtext(
        "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=SAML
    )

    assert first is not None
    expected = b"".join(credential.certificate_pem.splitlines()[1:-1]).decode()
    assert "".join(first.split()) == expected


def test_input_assertion_is_left_untouched(signer: VihfSigner) -> None:
    unsigned = assertion()
    before = etree.tostring(unsigned)

    signer.sign(unsigned)

    assert etree.tostring(unsigned) == before


def test_tampering_breaks_the_signature(signer: VihfSigner, dev_pki: DevPki) -> None:
    signed = signer.sign(assertion())
    conditions = signed.find("saml:Conditions", SAML)
    assert conditions is not None
    conditions.set("NotOnOrAfter", "2099-01-01T00:00:00.000Z")

    with pytest.raises(InvalidSignature):
        verify(signed, dev_pki)


def test_tampering_an_attribute_value_breaks_the_signature(
    signer: VihfSigner, dev_pki: DevPki
) -> None:
    signed = signer.sign(assertion())
    value = signed.find("saml:AttributeStatement/saml:Attribute/saml:AttributeValue", SAML)
    assert value is not None
    value.text = "someone else"

    with pytest.raises(InvalidSignature):
        verify(signed, dev_pki)


def test_one_signer_signs_many_without_reloading_the_key(
    signer: VihfSigner, dev_pki: DevPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_key_loading(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the key must be loaded once, not per signature")

    monkeypatch.setattr("signxml.signer.load_pem_private_key", no_key_loading)
    monkeypatch.setattr(serialization, "load_pem_private_key", no_key_loading)
    monkeypatch.setattr(pkcs12, "load_key_and_certificates", no_key_loading)

    first, second = signer.sign(assertion()), signer.sign(assertion())

    assert first.get("ID") != second.get("ID")
    verify(first, dev_pki)
    verify(second, dev_pki)


def test_concurrent_signing(signer: VihfSigner, dev_pki: DevPki) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        signed = list(pool.map(lambda _: signer.sign(assertion()), range(8)))

    for element in signed:
        verify(element, dev_pki)


def test_assertion_without_id_is_a_signing_error(signer: VihfSigner) -> None:
    unsigned = assertion()
    del unsigned.attrib["ID"]

    with pytest.raises(SigningError):
        signer.sign(unsigned)


def test_signxml_errors_become_signing_errors(signer: VihfSigner) -> None:
    unsigned = assertion()
    unsigned.append(copy.deepcopy(unsigned[1]))  # a second placeholder: signxml refuses

    with pytest.raises(SigningError) as caught:
        signer.sign(unsigned)
    assert "PRIVATE KEY" not in caught.value.message


# --- wsse:Security -------------------------------------------------------------------------


def test_security_header_validates_against_the_official_schema(
    signer: VihfSigner, reference_dir: Path
) -> None:
    header = security_header(signer.sign(assertion(user_id="jdupont")))

    assert header.tag == ns.qname(ns.WSSE, "Security")
    assert [child.tag for child in header] == [ns.qname(ns.SAML2, "Assertion")]
    validate_element(header, reference_dir)


def test_signature_survives_being_moved_into_an_envelope(
    signer: VihfSigner, dev_pki: DevPki
) -> None:
    """Exclusive C14N: the assertion still verifies once inside wsse:Security in soap:Header."""
    header = signer.security_header(signer.sign(assertion()))
    envelope = etree.Element(ns.qname(ns.SOAP12_ENV, "Envelope"), nsmap={"soap": ns.SOAP12_ENV})
    etree.SubElement(envelope, ns.qname(ns.SOAP12_ENV, "Header")).append(header)
    moved = etree.fromstring(etree.tostring(envelope))

    verify(moved.find(f".//{ns.qname(ns.SAML2, 'Assertion')}"), dev_pki)  # type: ignore[arg-type]
