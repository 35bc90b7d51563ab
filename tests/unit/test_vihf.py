"""The VIHF assertion, its enveloped signature, and the wsse:Security header around it."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree
from signxml.exceptions import InvalidSignature
from signxml.verifier import VerifyResult, XMLVerifier

from gateway import ns
from gateway.exceptions import SigningError
from gateway.mock.contract import validate_element
from gateway.models import CallContext
from gateway.pki.credentials import Credential, load_credential
from gateway.pki.devpki import DevPki
from gateway.protocol.signing import VihfSigner, security_header
from gateway.protocol.vihf import build_assertion

STRUCTURE_ID = "499700000000001"
# The dev PKI's INSI-MANU subject (gateway/pki/devpki.py), as RFC 4514 writes it: most specific
# attribute first, like the recorded INSi assertion ("...,T=Infirmier,C=FR").
MANU_DN = "CN=INSI-MANU,OU=499700000000001,O=CH DEMO INSI-GATEWAY,C=FR"
X509_SUBJECT_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
NOW = datetime(2026, 11, 23, 19, 0, 0, 123000, tzinfo=UTC)
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SAML = {"saml": ns.SAML2, "ds": ns.DS}


def context(user_id: str | None = None, sector: str | None = None) -> CallContext:
    return CallContext(
        request_id="req-1",
        message_id="uuid:00000000-0000-4000-8000-000000000001",
        user_id=user_id,
        activity_sector=sector,
    )


def assertion(
    user_id: str | None = None,
    now: datetime = NOW,
    issuer: str = MANU_DN,
    sector: str | None = None,
) -> etree._Element:
    return build_assertion(
        issuer=issuer, structure_id=STRUCTURE_ID, context=context(user_id, sector), now=now
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


def attributes(element: etree._Element) -> dict[str, list[str]]:
    found = element.findall("saml:AttributeStatement/saml:Attribute", SAML)
    return {
        a.get("Name", ""): [v.text or "" for v in a.findall("saml:AttributeValue", SAML)]
        for a in found
    }


# --- the assertion: the shape of the recorded INSi assertion (docs/vihf.md) -----------------


def test_assertion_layout() -> None:
    element = assertion()

    assert element.tag == ns.qname(ns.SAML2, "Assertion")
    assert re.fullmatch(r"_[0-9a-f]{32}", element.get("ID", ""))
    assert element.get("Version") == "2.0"
    assert element.get("IssueInstant") == "2026-11-23T19:00:00.123Z"
    assert [etree.QName(child).localname for child in element] == [
        "Issuer", "Signature", "Subject", "Conditions", "AttributeStatement",
    ]  # fmt: skip
    assert element[1].get("Id") == "placeholder"
    conditions = element.find("saml:Conditions", SAML)
    assert conditions is not None
    assert conditions.get("NotBefore") == "2026-11-23T19:00:00.123Z"
    assert conditions.get("NotOnOrAfter") == "2026-11-23T19:05:00.123Z"


def test_issuer_is_a_certificate_subject_dn_in_x509_subject_name_format() -> None:
    issuer = assertion(issuer=MANU_DN).find("saml:Issuer", SAML)

    assert issuer is not None
    assert issuer.get("Format") == X509_SUBJECT_NAME
    assert issuer.text == MANU_DN


def test_signer_names_its_certificate_as_issuer(signer: VihfSigner, credential: Credential) -> None:
    assert signer.issuer == MANU_DN
    assert x509.Name.from_rfc4514_string(signer.issuer) == credential.certificate.subject


def test_auto_signer_names_the_insi_auto_certificate(dev_pki: DevPki) -> None:
    auto = load_credential(dev_pki.insi_auto.p12, dev_pki.passphrase, setting="TEST_CERT")

    assert VihfSigner(auto).issuer == "CN=INSI-AUTO,OU=499700000000001,O=CH DEMO INSI-GATEWAY,C=FR"


def test_ids_are_unique() -> None:
    assert assertion().get("ID") != assertion().get("ID")


def test_name_id_is_the_user_when_known_with_a_qualifier_saying_so() -> None:
    name_id = assertion(user_id="jdupont").find("saml:Subject/saml:NameID", SAML)

    assert name_id is not None
    assert (name_id.text, name_id.get("NameQualifier")) == ("jdupont", "UTILISATEUR")


def test_name_id_is_the_structure_without_a_user_with_a_qualifier_saying_so() -> None:
    name_id = assertion().find("saml:Subject/saml:NameID", SAML)

    assert name_id is not None
    assert (name_id.text, name_id.get("NameQualifier")) == (STRUCTURE_ID, "STRUCTURE")


def test_attributes_are_the_activity_sector_only_public_hospital_by_default() -> None:
    assert attributes(assertion()) == {"secteurActivite": ["SA01"]}


def test_activity_sector_is_the_applications_own() -> None:
    assert attributes(assertion(sector="SA03")) == {"secteurActivite": ["SA03"]}


def test_no_billing_id_and_nothing_but_who_calls() -> None:
    """identifiantFacturation is a professional's (CPS) number; DMP-style attributes are gone."""
    text = etree.tostring(assertion(user_id="jdupont")).decode()

    for absent in ("identifiantFacturation", "AuthnStatement", "VIHF_Version", "LPS_", "subject"):
        assert absent not in text.replace("saml:Subject>", "")


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


# --- a second, independent verifier: xmlsec1 (libxmlsec1, Debian package xmlsec1) -------------


def xmlsec1_verify(document: etree._Element, dev_pki: DevPki, tmp_path: Path) -> str:
    """Run ``xmlsec1 --verify`` on ``document``, trusting only the dev root; its stderr report."""
    binary = shutil.which("xmlsec1")
    assert binary, "xmlsec1 is not installed (scripts/test installs the Debian package xmlsec1)"
    path = tmp_path / "signed.xml"
    path.write_bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8"))
    completed = subprocess.run(
        [
            binary, "--verify",
            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--trusted-pem", str(dev_pki.root_ca.pem),
            "--untrusted-pem", str(dev_pki.intermediate_ca.pem),
            str(path),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return f"rc={completed.returncode} {completed.stdout}{completed.stderr}"


def test_xmlsec1_verifies_the_signed_assertion_in_its_security_header(
    signer: VihfSigner, tmp_path: Path, dev_pki: DevPki
) -> None:
    header = signer.security_header(signer.sign(assertion(user_id="jdupont")))

    report = xmlsec1_verify(header, dev_pki, tmp_path)

    assert report.startswith("rc=0 "), report
    assert "OK" in report, report


def test_xmlsec1_refuses_a_tampered_assertion(
    signer: VihfSigner, tmp_path: Path, dev_pki: DevPki
) -> None:
    signed = signer.sign(assertion(user_id="jdupont"))
    name_id = signed.find("saml:Subject/saml:NameID", SAML)
    assert name_id is not None
    name_id.text = "someone.else"

    report = xmlsec1_verify(signed, dev_pki, tmp_path)

    assert not report.startswith("rc=0 "), report


# --- the field table of docs/vihf.md is the assertion ----------------------------------------

VIHF_DOC = Path(__file__).resolve().parents[2] / "docs" / "vihf.md"


def documented(section_start: str, section_end: str) -> set[str]:
    """The first-column fields of the table between two headings/labels of docs/vihf.md."""
    text = VIHF_DOC.read_text(encoding="utf-8")
    section = text.split(section_start, 1)[1].split(section_end, 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", section, re.MULTILINE)}


def fields_of(signed: etree._Element) -> set[str]:
    """Every field the signed assertion carries, written as the table writes them."""
    found = {f"Assertion/@{name}" for name in signed.attrib}
    for child in signed:
        if child.tag == ns.qname(ns.DS, "Signature"):
            found.add("ds:Signature")
        elif child.tag == ns.qname(ns.SAML2, "AttributeStatement"):
            found |= {f"Attribute[@Name='{a.get('Name')}']" for a in child}
        else:
            for element in child.iter():
                path = "/".join(
                    etree.QName(e).localname
                    for e in reversed([element, *element.iterancestors()])
                    if e is not signed
                )
                if (element.text or "").strip():
                    found.add(path)
                found |= {f"{path}/@{name}" for name in element.attrib}
    return found


def test_the_signed_assertion_has_exactly_the_fields_of_the_documented_table(
    signer: VihfSigner,
) -> None:
    table = documented("## Every field", "Not sent, on purpose")
    signed = signer.sign(assertion(user_id="jdupont", issuer=signer.issuer))

    assert fields_of(signed) == table


def test_the_fields_documented_as_not_sent_are_not_sent(signer: VihfSigner) -> None:
    not_sent = documented("Not sent, on purpose", "## Per application")
    signed = signer.sign(assertion(user_id="jdupont", issuer=signer.issuer))

    assert "Attribute[@Name='identifiantFacturation']" in not_sent
    assert not_sent.isdisjoint(fields_of(signed))
    assert signed.find("saml:AuthnStatement", SAML) is None
