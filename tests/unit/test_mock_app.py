"""The mock teleservice in-process: checks, answers, faults, injection, request log.

Requests are built here by hand (lxml + signxml + the dev PKI), never with the
gateway's builder: the mock must catch the gateway's mistakes, so its tests
cannot share them. Every answer is validated against the official XSDs.
The helpers at the top are reused by ``tests/integration/test_mock_server.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureMethod
from signxml.signer import XMLSigner
from werkzeug.test import Client, TestResponse

from gateway import ns
from gateway.exceptions import ConfigurationError
from gateway.mock import MockSettings, create_mock_app
from gateway.mock.contract import validate_envelope
from gateway.models import Operation
from gateway.pki.credentials import Credential, load_credential
from gateway.pki.devpki import ClientFiles, DevPki

IDAM = "INSI-GW-DEV-IDAM"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SOAP_TYPE = 'application/soap+xml; charset=utf-8; action="{}"'
MANU_DN = "CN=INSI-MANU,OU=499700000000001,O=CH DEMO INSI-GATEWAY,C=FR"  # the dev PKI's
X509_SUBJECT_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
DOMINIQUE = ("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", "2A020")

# --- request building (also used by the integration test) -------------------------------------


def traits_body(
    birth_name: str, first_names: tuple[str, ...], sex: str, birth_date: str, place: str | None
) -> etree._Element:
    body = etree.Element(ns.qname(ns.INSI_RECSANS, "RECSANSVITALE"), nsmap={"rs": ns.INSI_RECSANS})
    fields: list[tuple[str, str | None]] = [("NomNaissance", birth_name)]
    fields += [("Prenom", first_name) for first_name in first_names]
    fields += [("Sexe", sex), ("DateNaissance", birth_date), ("LieuNaissance", place)]
    for name, value in fields:
        if value is not None:
            etree.SubElement(body, ns.qname(ns.INSI_RECSANS, name)).text = value
    return body


def vitale_body(od: str, key: str, name: str, date: str, rank: str) -> etree._Element:
    body = etree.Element(ns.qname(ns.INSI_RECVIT, "RECVITALE"), nsmap={"rv": ns.INSI_RECVIT})
    holder = etree.SubElement(body, ns.qname(ns.INSI_RECVIT, "MatriculeOD"))
    etree.SubElement(holder, ns.qname(ns.INSI_RECVIT, "NumIdentifiant")).text = od
    etree.SubElement(holder, ns.qname(ns.INSI_RECVIT, "Cle")).text = key
    for field, value in (("NomNaissance", name), ("DateNaissance", date), ("RangNaissance", rank)):
        etree.SubElement(body, ns.qname(ns.INSI_RECVIT, field)).text = value
    return body


def assertion(assertion_id: str | None = None, issuer: str | None = None) -> etree._Element:
    """An unsigned VIHF in the shape of docs/vihf.md, issued by the dev INSI-MANU certificate."""
    saml = ns.SAML2
    element = etree.Element(
        ns.qname(saml, "Assertion"),
        ID=assertion_id or f"_{uuid.uuid4().hex}",
        Version="2.0",
        IssueInstant="2024-01-01T00:00:00Z",
        nsmap={"saml": saml, "ds": ns.DS},
    )
    issuer_element = etree.SubElement(element, ns.qname(saml, "Issuer"), Format=X509_SUBJECT_NAME)
    issuer_element.text = issuer or MANU_DN
    etree.SubElement(element, ns.qname(ns.DS, "Signature"), Id="placeholder")
    subject = etree.SubElement(element, ns.qname(saml, "Subject"), ID="_subject")
    name_id = etree.SubElement(subject, ns.qname(saml, "NameID"), NameQualifier="UTILISATEUR")
    name_id.text = "user-1"
    statement = etree.SubElement(element, ns.qname(saml, "AttributeStatement"))
    attribute = etree.SubElement(statement, ns.qname(saml, "Attribute"), Name="secteurActivite")
    etree.SubElement(attribute, ns.qname(saml, "AttributeValue")).text = "SA01"
    return element


def child(element: etree._Element, namespace: str, local: str) -> etree._Element:
    found = element.find(ns.qname(namespace, local))
    assert found is not None
    return found


def unsigned_assertion() -> etree._Element:
    element = assertion()
    element.remove(child(element, ns.DS, "Signature"))
    return element


def sign(element: etree._Element, credential: Credential, reference: str | None = None) -> Any:
    signer = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        c14n_algorithm=CanonicalizationMethod(EXC_C14N),
    )
    return signer.sign(
        element,
        key=credential.private_key,
        cert=[credential.certificate, *credential.chain],
        reference_uri=reference or "#" + element.get("ID", ""),
        id_attribute="ID",
    )


def security(*assertions: etree._Element) -> etree._Element:
    header = etree.Element(ns.qname(ns.WSSE, "Security"), nsmap={"wsse": ns.WSSE})
    header.extend(copy.deepcopy(a) for a in assertions)
    return header


def envelope(
    body: etree._Element,
    *,
    security_header: etree._Element | None = None,
    idam: str | None = IDAM,
    message_id: str = "uuid:0f2c5d0e-1111-4222-8333-444455556666",
    to: str | None = None,
) -> bytes:
    operation = _operation_of(body)
    root = etree.Element(ns.qname(ns.SOAP12_ENV, "Envelope"), nsmap={"soap": ns.SOAP12_ENV})
    header = etree.SubElement(root, ns.qname(ns.SOAP12_ENV, "Header"))
    etree.SubElement(
        header, ns.qname(ns.WSA, "Action"), nsmap={"wsa": ns.WSA}
    ).text = operation.action
    etree.SubElement(header, ns.qname(ns.WSA, "MessageID")).text = message_id
    if to is not None:  # optional in the WS-Addressing schema the WSDL imports
        etree.SubElement(header, ns.qname(ns.WSA, "To")).text = to
    if idam is not None:
        context = etree.SubElement(
            header, ns.qname(ns.CTXLPS, "ContexteLPS"), Version="01_00", nsmap={"c": ns.CTXLPS}
        )
        lps = etree.SubElement(context, ns.qname(ns.CTXLPS, "LPS"))
        etree.SubElement(lps, ns.qname(ns.CTXLPS, "IDAM"), R="4").text = idam
    if security_header is not None:
        header.append(security_header)
    etree.SubElement(root, ns.qname(ns.SOAP12_ENV, "Body")).append(body)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _operation_of(body: etree._Element) -> Operation:
    if body.tag == ns.qname(ns.INSI_RECVIT, "RECVITALE"):
        return Operation.SEARCH_VITALE
    return Operation.SEARCH_TRAITS


def signed_search(credential: Credential, body: etree._Element) -> bytes:
    issuer = credential.certificate.subject.rfc4514_string()
    return envelope(body, security_header=security(sign(assertion(issuer=issuer), credential)))


def soap_content_type(operation: Operation = Operation.SEARCH_TRAITS) -> str:
    return SOAP_TYPE.format(operation.action)


def traits_hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


# --- fixtures ----------------------------------------------------------------------------------


class FakeTlsSocket:
    """What the app reads from ``environ["gunicorn.socket"]``: the verified peer certificate."""

    def __init__(self, credential: Credential | None) -> None:
        self._credential = credential

    def getpeercert(self, binary_form: bool = False) -> Any:
        if self._credential is None:
            return None
        if binary_form:
            return self._credential.certificate.public_bytes(Encoding.DER)
        subject = ((("countryName", "FR"),), (("commonName", self._credential.common_name),))
        return {"subject": subject}


def credential(dev_pki: DevPki, files: ClientFiles) -> Credential:
    return load_credential(files.p12, dev_pki.passphrase, setting="test")


@pytest.fixture(scope="module")
def manu(dev_pki: DevPki) -> Credential:
    return credential(dev_pki, dev_pki.insi_manu)


Call = Callable[..., TestResponse]


@pytest.fixture
def make_call(dev_pki: DevPki, manu: Credential, tmp_path: Path) -> Callable[..., Call]:
    """``make_call(**env)`` -> ``call(data, peer=manu, content_type=..., path=...)``."""

    def make(**env: str) -> Call:
        env.setdefault("MOCK_REQUEST_LOG", str(tmp_path / "requests.jsonl"))
        client = Client(create_mock_app(MockSettings.from_env(env, pki_dir=dev_pki.directory)))

        def call(
            data: bytes,
            *,
            peer: Credential | None = manu,
            content_type: str | None = None,
            path: str = "/lps",
        ) -> TestResponse:
            return client.post(
                path,
                data=data,
                headers={"Content-Type": content_type or soap_content_type()},
                environ_overrides={"gunicorn.socket": FakeTlsSocket(peer)},
            )

        return call

    return make


@pytest.fixture
def call(make_call: Callable[..., Call]) -> Call:
    return make_call()


def log_lines(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "requests.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


# --- answer checks -----------------------------------------------------------------------------


def result(response: TestResponse, reference_dir: Path) -> etree._Element:
    assert response.status_code == 200, response.text
    assert response.mimetype == "application/soap+xml"
    validate_envelope(response.data, reference_dir, header_required=False)
    found = etree.fromstring(response.data).find(f".//{{{ns.INSI_RESULTAT}}}RESULTAT")
    assert found is not None
    return found


def r_text(element: etree._Element, path: str) -> str | None:
    steps = "/".join(f"{{{ns.INSI_RESULTAT}}}{step}" for step in path.split("/"))
    return element.findtext(steps)


def fault(response: TestResponse, reference_dir: Path) -> dict[str, str | None]:
    assert response.status_code == 500, response.text
    assert response.mimetype == "application/soap+xml"
    validate_envelope(response.data, reference_dir, header_required=False)
    root = etree.fromstring(response.data)
    s = f"{{{ns.SOAP12_ENV}}}"
    erreur = root.find(f".//{s}Detail/{{{ns.SIRAM}}}Erreur")
    assert erreur is not None
    assert erreur.nsmap.get(None) is None  # severite is an xs:QName: no default namespace
    subcode = root.findtext(f".//{s}Code/{s}Subcode/{s}Value")
    return {
        "code": root.findtext(f".//{s}Code/{s}Value"),
        "subcode": subcode,
        "reason": root.findtext(f".//{s}Reason/{s}Text"),
        "error": erreur.get("code"),
        "severity": erreur.get("severite"),
    }


# --- happy paths -------------------------------------------------------------------------------


def test_signed_search_finds_dominique(call: Call, manu: Credential, reference_dir: Path) -> None:
    resultat = result(call(signed_search(manu, traits_body(*DOMINIQUE))), reference_dir)

    assert r_text(resultat, "CR/CodeCR") == "00"
    assert r_text(resultat, "CR/LibelleCR") == "OK"
    assert r_text(resultat, "INDIVIDU/INSACTIF/IdIndividu/NumIdentifiant") == "297022A020778"
    assert r_text(resultat, "INDIVIDU/INSACTIF/IdIndividu/Cle") == "78"
    assert r_text(resultat, "INDIVIDU/INSACTIF/OID") == "1.2.250.1.213.1.4.8"
    assert r_text(resultat, "INDIVIDU/TIQ/ListePrenom") == "DOMINIQUE"
    assert r_text(resultat, "INDIVIDU/TIQ/LieuNaissance") == "2A020"


SEARCHES = {
    "found-with-history": (
        ("ECETINSI", ("PIERRE-ALAIN", "MURIEL", "FLORIANT"), "M", "2009-07-14", None),
        "00",
    ),
    "found-nia": (("PROVISOIRE", ("MATRICULE",), "M", "2009-07-01", "63220"), "00"),
    "not-found": (("HOUILLES", ("PIERRE",), "M", "1993-01-27", None), "01"),
    "several": (("DE VINCI", ("LEONARDO",), "M", "2014-02-01", None), "02"),
}


@pytest.mark.parametrize("style", ["plain", "variant"])
@pytest.mark.parametrize("case", SEARCHES)
def test_every_result_validates_in_both_styles(
    make_call: Callable[..., Call], manu: Credential, reference_dir: Path, style: str, case: str
) -> None:
    traits, code = SEARCHES[case]
    call = make_call(MOCK_RESPONSE_STYLE=style)

    resultat = result(call(signed_search(manu, traits_body(*traits))), reference_dir)

    assert r_text(resultat, "CR/CodeCR") == code
    assert (r_text(resultat, "INDIVIDU/TIQ/Sexe") is not None) is (code == "00")


def test_variant_style_serialises_differently(
    make_call: Callable[..., Call], manu: Credential, reference_dir: Path
) -> None:
    body = traits_body("ECETINSI", ("FLORIANT",), "M", "2009-07-14", None)
    response = make_call(MOCK_RESPONSE_STYLE="variant")(signed_search(manu, body))

    resultat = result(response, reference_dir)
    assert b"<S:Body" in response.data  # the CNDA test files' shape; plain is env:Body
    assert b"<soap:Envelope" in response.data
    assert resultat.prefix is None
    assert resultat.nsmap["ns2"] == ns.INSI_RECSANS
    assert r_text(resultat, "INDIVIDU/INSACTIF/IdIndividu/TypeMatricule") == "NIR"
    assert r_text(resultat, "INDIVIDU/INSHISTO/DateDeb") == "2019-03-01"
    # ECETINSI is answered without Prenom, as the recorded CNDA answer is
    assert r_text(resultat, "INDIVIDU/TIQ/Prenom") is None
    assert r_text(resultat, "INDIVIDU/TIQ/ListePrenom") == "PIERRE-ALAIN MURIEL FLORIANT"


def test_several_prenom_elements_are_joined(
    call: Call, manu: Credential, reference_dir: Path
) -> None:
    body = traits_body("TCHITCHI", ("CATARINA", "BELLA"), "F", "1936-06-21", None)
    resultat = result(call(signed_search(manu, body)), reference_dir)
    assert r_text(resultat, "INDIVIDU/INSACTIF/IdIndividu/NumIdentifiant") == "2360663220836"


@pytest.mark.parametrize(
    ("od", "key", "name", "date", "rank", "code"),
    [
        ("297022A020778", "78", "ADRTROIS", "1997-02-26", "1", "00"),
        ("1780563220457", "60", "NESSI", "2010-08-07", "2", "00"),
        ("2751263220749", "74", "ADRUN", "1975-12-31", "1", "01"),
    ],
)
def test_vitale_search(
    call: Call,
    manu: Credential,
    reference_dir: Path,
    od: str,
    key: str,
    name: str,
    date: str,
    rank: str,
    code: str,
) -> None:
    data = signed_search(manu, vitale_body(od, key, name, date, rank))
    response = call(data, content_type=soap_content_type(Operation.SEARCH_VITALE))
    assert r_text(result(response, reference_dir), "CR/CodeCR") == code


# --- the VIHF ----------------------------------------------------------------------------------

VIHF_REJECTED = {"code": "soap:Sender", "subcode": "soap:siram_100", "error": "DESIR_480"}


def assert_vihf_rejected(response: TestResponse, reference_dir: Path, reason: str) -> None:
    got = fault(response, reference_dir)
    assert {k: got[k] for k in VIHF_REJECTED} == VIHF_REJECTED
    assert reason in (got["reason"] or ""), got["reason"]


def dominique_with(header: etree._Element | None) -> bytes:
    return envelope(traits_body(*DOMINIQUE), security_header=header)


def test_tampered_assertion_is_refused(call: Call, manu: Credential, reference_dir: Path) -> None:
    signed = sign(assertion(), manu)
    child(signed, ns.SAML2, "Issuer").text = "999999999999999"

    assert_vihf_rejected(call(dominique_with(security(signed))), reference_dir, "InvalidDigest")


def test_a_second_unsigned_assertion_is_refused(
    call: Call, manu: Credential, reference_dir: Path
) -> None:
    header = security(sign(assertion(), manu), unsigned_assertion())
    assert_vihf_rejected(call(dominique_with(header)), reference_dir, "exactly one saml:Assertion")


def test_wrapped_assertion_is_refused(call: Call, manu: Credential, reference_dir: Path) -> None:
    """Classic wrapping: a forged outer assertion, the genuine one hidden inside."""
    genuine = sign(assertion("_genuine"), manu)
    forged = assertion("_forged")
    forged.remove(child(forged, ns.DS, "Signature"))
    forged.insert(1, child(genuine, ns.DS, "Signature"))
    forged.append(genuine)

    assert_vihf_rejected(call(dominique_with(security(forged))), reference_dir, "saml:Assertion")


def test_signature_over_another_element_than_the_assertion_is_refused(
    call: Call, manu: Credential, reference_dir: Path
) -> None:
    """The ID moved to Subject: the signature is valid but leaves the assertion unsigned."""
    signed = sign(assertion(), manu, reference="#_subject")
    assert_vihf_rejected(call(dominique_with(security(signed))), reference_dir, "own ID")


@pytest.mark.parametrize("which", ["unknown_ca", "expired", "no_digital_signature"])
def test_untrusted_signing_certificates_are_refused(
    call: Call, dev_pki: DevPki, reference_dir: Path, which: str
) -> None:
    signer = credential(dev_pki, getattr(dev_pki, which))
    response = call(dominique_with(security(sign(assertion(), signer))))
    assert_vihf_rejected(response, reference_dir, "signature rejected")


def test_vihf_must_be_signed_by_the_tls_client(
    call: Call, dev_pki: DevPki, reference_dir: Path
) -> None:
    auto = credential(dev_pki, dev_pki.insi_auto)
    response = call(dominique_with(security(sign(assertion(), auto))))  # TLS peer is INSI-MANU
    assert_vihf_rejected(response, reference_dir, "TLS client")


def test_unsigned_request_refused_in_vihf_mode(call: Call, reference_dir: Path) -> None:
    assert_vihf_rejected(call(dominique_with(None)), reference_dir, "wsse:Security")


def test_unsigned_request_answered_in_tls_mode(
    make_call: Callable[..., Call], reference_dir: Path, tmp_path: Path
) -> None:
    response = make_call(MOCK_AUTH="tls")(dominique_with(None))
    assert r_text(result(response, reference_dir), "CR/CodeCR") == "00"
    assert log_lines(tmp_path)[-1]["signed"] is False


def test_a_present_vihf_is_still_verified_in_tls_mode(
    make_call: Callable[..., Call], reference_dir: Path
) -> None:
    response = make_call(MOCK_AUTH="tls")(dominique_with(security(unsigned_assertion())))
    assert_vihf_rejected(response, reference_dir, "not signed")


# --- client certificate and software -----------------------------------------------------------


@pytest.mark.parametrize("peer", ["other_cn", None])
def test_client_certificate_must_be_insi_manu_or_auto(
    call: Call, manu: Credential, dev_pki: DevPki, reference_dir: Path, peer: str | None
) -> None:
    client = credential(dev_pki, dev_pki.other_cn) if peer else None
    got = fault(call(signed_search(manu, traits_body(*DOMINIQUE)), peer=client), reference_dir)
    assert (got["code"], got["subcode"], got["error"]) == (
        "soap:Sender",
        "soap:siram_40",
        "DESIR_560",
    )


def test_insi_auto_is_accepted(call: Call, dev_pki: DevPki, reference_dir: Path) -> None:
    auto = credential(dev_pki, dev_pki.insi_auto)
    response = call(signed_search(auto, traits_body(*DOMINIQUE)), peer=auto)
    assert r_text(result(response, reference_dir), "CR/CodeCR") == "00"


@pytest.mark.parametrize("idam", ["OTHER-IDAM", None])
def test_unknown_idam_is_refused(
    call: Call, manu: Credential, reference_dir: Path, idam: str | None
) -> None:
    header = security(sign(assertion(), manu))
    data = envelope(traits_body(*DOMINIQUE), security_header=header, idam=idam)
    got = fault(call(data), reference_dir)
    assert (got["code"], got["subcode"], got["error"], got["severity"]) == (
        "soap:Sender",
        "soap:siram_100",
        "desir_550",
        "erreur",
    )


def test_allowed_idam_list_comes_from_the_environment(
    make_call: Callable[..., Call], manu: Credential, reference_dir: Path
) -> None:
    call = make_call(MOCK_ALLOWED_IDAM="A-1, OTHER-IDAM")
    header = security(sign(assertion(), manu))
    data = envelope(traits_body(*DOMINIQUE), security_header=header, idam="OTHER-IDAM")
    assert r_text(result(call(data), reference_dir), "CR/CodeCR") == "00"


# --- malformed requests ------------------------------------------------------------------------


def without(body: etree._Element, local: str) -> etree._Element:
    for child in body.findall(f"{{{ns.INSI_RECSANS}}}{local}"):
        body.remove(child)
    return body


def unknown_operation() -> bytes:
    data = envelope(traits_body(*DOMINIQUE))
    return data.replace(b"RECSANSVITALE", b"RECHERCHER").replace(
        b"rechercherInsAvecTraitsIdentite", b"x"
    )


MALFORMED = {
    "not-xml": (b"this is not XML", None, "not well-formed"),
    "dtd": (b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', None, "DTD"),
    "not-an-envelope": (b"<x/>", None, "not a SOAP envelope"),
    "no-body": (
        envelope(traits_body(*DOMINIQUE)).replace(b"soap:Body", b"soap:Corps"),
        None,
        "soap:Body",
    ),
    "unknown-operation": (unknown_operation(), None, "unknown operation"),
    "missing-birth-name": (
        envelope(without(traits_body(*DOMINIQUE), "NomNaissance")),
        None,
        "NomNaissance is required",
    ),
    "missing-first-name": (
        envelope(without(traits_body(*DOMINIQUE), "Prenom")),
        None,
        "Prenom is required",
    ),
    "soap-1.1-content-type": (
        envelope(traits_body(*DOMINIQUE)),
        "text/xml",
        "application/soap+xml",
    ),
    "action-mismatch": (
        envelope(traits_body(*DOMINIQUE)),
        soap_content_type(Operation.SEARCH_VITALE),
        "action does not match",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_requests_get_a_sender_fault(
    make_call: Callable[..., Call], reference_dir: Path, case: str
) -> None:
    data, content_type, reason = MALFORMED[case]
    got = fault(make_call(MOCK_AUTH="tls")(data, content_type=content_type), reference_dir)
    assert (got["code"], got["subcode"], got["error"]) == (
        "soap:Sender",
        "soap:siram_20",
        "DESIR_400",
    )
    assert reason in (got["reason"] or ""), got["reason"]


def test_soap11_envelope_is_a_version_mismatch(call: Call, reference_dir: Path) -> None:
    data = envelope(traits_body(*DOMINIQUE)).replace(ns.SOAP12_ENV.encode(), ns.SOAP11_ENV.encode())
    got = fault(call(data), reference_dir)
    assert (got["code"], got["subcode"]) == ("soap:VersionMismatch", None)


@pytest.mark.parametrize("style", ["plain", "variant"])
def test_faults_validate_in_both_styles(
    make_call: Callable[..., Call], reference_dir: Path, style: str
) -> None:
    got = fault(make_call(MOCK_RESPONSE_STYLE=style)(b"nope"), reference_dir)
    assert got["severity"] == "fatale"


# --- request log and logging -------------------------------------------------------------------


def test_request_log_has_one_line_without_names(
    call: Call, manu: Credential, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    call(signed_search(manu, traits_body(*DOMINIQUE)))
    call(b"<not-soap/>")

    raw = (tmp_path / "requests.jsonl").read_text()
    first, second = log_lines(tmp_path)
    assert first["operation"] == "rechercherInsAvecTraitsIdentite"
    assert first["message_id"] == "uuid:0f2c5d0e-1111-4222-8333-444455556666"
    assert (first["client_cn"], first["signed"], first["outcome"]) == ("INSI-MANU", True, "00")
    assert first["traits_hash"] == traits_hash("ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020")
    assert (second["operation"], second["outcome"], second["signed"]) == (None, "DESIR_400", False)
    for text in (raw, caplog.text):
        assert "ADRTROIS" not in text
        assert "DOMINIQUE" not in text


# --- injected failures and latency -------------------------------------------------------------


def dominique(manu: Credential) -> bytes:
    return signed_search(manu, traits_body(*DOMINIQUE))


def injecting(make_call: Callable[..., Call], mode: str, **env: str) -> Call:
    return make_call(MOCK_FAILURE_RATE="1", MOCK_FAILURE_MODE=mode, **env)


def test_http503_is_empty(make_call: Callable[..., Call], manu: Credential, tmp_path: Path) -> None:
    response = injecting(make_call, "http503")(dominique(manu))
    assert (response.status_code, response.data) == (503, b"")
    assert log_lines(tmp_path)[-1]["outcome"] == "http503"


def test_http500_is_an_html_page(make_call: Callable[..., Call], manu: Credential) -> None:
    response = injecting(make_call, "http500")(dominique(manu))
    assert (response.status_code, response.mimetype) == (500, "text/html")


def test_garbage_is_200_and_not_xml(make_call: Callable[..., Call], manu: Credential) -> None:
    response = injecting(make_call, "garbage")(dominique(manu))
    assert response.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(response.data)


def test_reset_drops_the_connection(make_call: Callable[..., Call], manu: Credential) -> None:
    with pytest.raises(ConnectionResetError):
        injecting(make_call, "reset")(dominique(manu))


def test_slow_answers_late_but_answers(
    make_call: Callable[..., Call], manu: Credential, reference_dir: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    response = injecting(make_call, "slow", MOCK_SLOW_MS="200")(dominique(manu))
    assert time.monotonic() - started >= 0.2
    assert r_text(result(response, reference_dir), "CR/CodeCR") == "00"
    assert log_lines(tmp_path)[-1]["injected"] == "slow"


def test_latency_is_added(make_call: Callable[..., Call], manu: Credential) -> None:
    started = time.monotonic()
    assert make_call(MOCK_LATENCY_MS="150")(dominique(manu)).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_seeded_failures_are_reproducible(make_call: Callable[..., Call], manu: Credential) -> None:
    def statuses() -> list[int]:
        call = make_call(MOCK_FAILURE_RATE="0.5", MOCK_SEED="42")
        return [call(dominique(manu)).status_code for _ in range(12)]

    first = statuses()
    assert first == statuses()
    assert {200, 503} == set(first)


# --- other routes and settings -----------------------------------------------------------------


def test_healthz_and_other_routes(dev_pki: DevPki) -> None:
    client = Client(create_mock_app(MockSettings.from_env({}, pki_dir=dev_pki.directory)))
    health = client.get("/healthz")
    assert (health.status_code, health.json) == (200, {"status": "ok"})
    assert client.get("/lps").status_code == 405
    assert client.get("/").status_code == 404


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MOCK_AUTH", "none"),
        ("MOCK_RESPONSE_STYLE", "fancy"),
        ("MOCK_FAILURE_RATE", "1.5"),
        ("MOCK_FAILURE_MODE", "explode"),
        ("MOCK_LATENCY_MS", "-1"),
        ("MOCK_SEED", "abc"),
    ],
)
def test_bad_settings_name_the_variable(dev_pki: DevPki, name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        MockSettings.from_env({name: value}, pki_dir=dev_pki.directory)
    assert caught.value.setting == name
    assert value not in caught.value.reason


def test_settings_need_the_ca_bundle(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"ca-bundle\.pem"):
        MockSettings.from_env({}, pki_dir=tmp_path)


def test_contract_checking_mock_refuses_an_envelope_the_official_xsd_rejects(
    make_call: Callable[..., Call], manu: Credential, reference_dir: Path
) -> None:
    # This hand-made envelope's ContexteLPS lacks the Id and Temps the official XSD requires.
    checking = make_call(MOCK_CONTRACT_DIR=str(reference_dir))

    refused = fault(checking(signed_search(manu, traits_body(*DOMINIQUE))), reference_dir)

    assert refused["error"] == "DESIR_400"
    assert "ContexteLPS" in (refused["reason"] or "")
