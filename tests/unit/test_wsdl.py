"""Our own WSDL (wsdl/insi.wsdl): loads offline with zeep, and produces official-valid messages.

Also covers :func:`gateway.protocol.bodies.traits_search_body`, the arguments
the gateway passes to zeep for the traits search.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import zeep
from lxml import etree

from gateway import ns
from gateway.mock.contract import ContractViolation, validate_element, validate_envelope
from gateway.models import CallContext, Operation, SoftwareIdentity, TraitsQuery
from gateway.pki.credentials import load_credential
from gateway.pki.devpki import DevPki
from gateway.protocol.bodies import traits_search_body
from gateway.protocol.headers import build_headers
from gateway.protocol.signing import VihfSigner
from gateway.protocol.vihf import build_assertion
from gateway.upstream.client import ZEEP_SETTINGS

WSDL = Path(__file__).resolve().parents[2] / "wsdl" / "insi.wsdl"
STRICT = ZEEP_SETTINGS  # the gateway's own: strict, no DTD, entities or external documents
ADRTROIS = TraitsQuery(
    birth_name="ADRTROIS",
    first_names=("DOMINIQUE",),
    sex="F",
    birth_date="1997-02-26",
    birth_place="2A020",
)
SOFTWARE = SoftwareIdentity(
    idam="GW-IDAM-0042", name="insi-gateway", version="1.2.3", instance="n1"
)
CONTEXT = CallContext(request_id="req-1", message_id="uuid:8a1e5a52-1d1c-4d0e-9a0b-7c3b0e2f4d55")
NOW = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def client() -> zeep.Client:
    return zeep.Client(str(WSDL), settings=STRICT)


def body_of(envelope: etree._Element) -> etree._Element:
    body = envelope.find(ns.qname(ns.SOAP12_ENV, "Body"))
    assert body is not None
    (payload,) = body
    return payload


def test_loads_offline_with_strict_settings(client: zeep.Client) -> None:
    service = client.wsdl.services["ICIR-v1"]
    port = service.ports["ICIRService"]

    assert type(port.binding).__name__ == "Soap12Binding"
    assert set(port.binding.all()) == {
        "rechercherInsAvecTraitsIdentite",
        "rechercherInsAvecCarteVitale",
    }


@pytest.mark.parametrize("operation", list(Operation))
def test_soap_actions(client: zeep.Client, operation: Operation) -> None:
    binding = client.wsdl.services["ICIR-v1"].ports["ICIRService"].binding
    soap_action = binding.get(operation.value).soapaction

    assert soap_action == f"urn:ServiceIdentiteCertifiee:1.0.0:{operation.value}"


def test_schema_files_are_local() -> None:
    for path in [WSDL, *(WSDL.parent / "xsd").glob("*.xsd")]:
        text = path.read_text(encoding="utf-8")
        assert 'schemaLocation="http' not in text, path


def test_traits_message_body_is_officially_valid(client: zeep.Client, reference_dir: Path) -> None:
    envelope = client.create_message(
        client.service,
        "rechercherInsAvecTraitsIdentite",
        NomNaissance="X",
        Prenom=["Y"],
        Sexe="F",
        DateNaissance="1997-02-26",
        LieuNaissance="2A020",
    )

    assert envelope.tag == ns.qname(ns.SOAP12_ENV, "Envelope")
    payload = body_of(envelope)
    assert payload.tag == ns.qname(ns.INSI_RECSANS, "RECSANSVITALE")
    validate_element(payload, reference_dir)


def test_vitale_message_body_is_officially_valid(client: zeep.Client, reference_dir: Path) -> None:
    envelope = client.create_message(
        client.service,
        "rechercherInsAvecCarteVitale",
        MatriculeIndividu={"NumIdentifiant": "297022A020778", "Cle": "78"},
        NomNaissance="ADRTROIS",
        DateNaissance="1997-02-26",
        RangNaissance="1",
    )

    payload = body_of(envelope)
    assert payload.tag == ns.qname(ns.INSI_RECVIT, "RECVITALE")
    validate_element(payload, reference_dir)


def test_traits_search_body_maps_the_query() -> None:
    assert traits_search_body(ADRTROIS, "DOMINIQUE") == {
        "NomNaissance": "ADRTROIS",
        "Prenom": ["DOMINIQUE"],
        "Sexe": "F",
        "DateNaissance": "1997-02-26",
        "LieuNaissance": "2A020",
    }


def test_traits_search_body_omits_unknown_birth_place(
    client: zeep.Client, reference_dir: Path
) -> None:
    query = TraitsQuery(
        birth_name="ECETINSI",
        first_names=("PIERRE-ALAIN", "MURIEL", "FLORIANT"),
        sex="M",
        birth_date="2009-07-14",
    )
    arguments = traits_search_body(query, "PIERRE-ALAIN MURIEL FLORIANT")

    assert "LieuNaissance" not in arguments
    envelope = client.create_message(client.service, "rechercherInsAvecTraitsIdentite", **arguments)
    payload = body_of(envelope)
    validate_element(payload, reference_dir)
    prenoms = payload.findall(ns.qname(ns.INSI_RECSANS, "Prenom"))
    assert [p.text for p in prenoms] == ["PIERRE-ALAIN MURIEL FLORIANT"]
    assert payload.find(ns.qname(ns.INSI_RECSANS, "LieuNaissance")) is None


def test_full_request_passes_the_official_contract(
    client: zeep.Client, dev_pki: DevPki, reference_dir: Path
) -> None:
    credential = load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="TEST")
    signer = VihfSigner(credential)
    assertion = build_assertion(
        issuer=signer.issuer, structure_id="499700000000001", context=CONTEXT, now=NOW
    )
    security = signer.security_header(signer.sign(assertion))
    headers = build_headers(
        Operation.SEARCH_TRAITS, CONTEXT, SOFTWARE, emitter="499700000000001", now=NOW
    )

    envelope = client.create_message(
        client.service,
        Operation.SEARCH_TRAITS.value,
        **traits_search_body(ADRTROIS, "DOMINIQUE"),
        _soapheaders=[security, *headers],
    )
    content = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")

    validate_envelope(content, reference_dir)
    header = etree.fromstring(content).find(ns.qname(ns.SOAP12_ENV, "Header"))
    assert header is not None
    assert [etree.QName(child).localname for child in header] == [
        "Security",
        "Action",
        "MessageID",
        "ContexteLPS",
        "ContexteBAM",
    ]


def test_validate_envelope_rejects_an_invalid_header(
    client: zeep.Client, reference_dir: Path
) -> None:
    """The contract helper itself must fail on a wrong header, or the test above proves nothing."""
    headers = build_headers(
        Operation.SEARCH_TRAITS, CONTEXT, SOFTWARE, emitter="499700000000001", now=NOW
    )
    del headers[2].attrib["Version"]  # ContexteLPS/@Version is required
    envelope = client.create_message(
        client.service,
        Operation.SEARCH_TRAITS.value,
        **traits_search_body(ADRTROIS, "DOMINIQUE"),
        _soapheaders=headers,
    )

    with pytest.raises(ContractViolation, match="ContexteLPS"):
        validate_envelope(etree.tostring(envelope), reference_dir)
