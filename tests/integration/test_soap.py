"""The SOAP interface end to end: a zeep client built from the WSDL the gateway publishes.

Real gunicorn, HTTPS with the dev CA, the mock teleservice behind mutual
TLS; SOAP 1.1 at ``/soap``, SOAP 1.2 at ``/soap12``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.transports import Transport

from gateway.pki.devpki import DevPki
from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer
from tests.integration.personas import FOUND, PERSONAS, WITH_CARD, Expected
from tests.paths import ROOT

pytestmark = pytest.mark.integration

NS = "urn:insi-gateway:soap:v1"
PROBLEM = "urn:insi-gateway:problem:"
VERSIONS = ("/soap", "/soap12")
ADRTROIS_DOMINIQUE: dict[str, Any] = {
    "birth_name": "ADRTROIS",
    "first_names": ["DOMINIQUE"],
    "sex": "F",
    "birth_date": "1997-02-26",
    "birth_place": "2A020",
}
NIR_OID = "1.2.250.1.213.1.4.8"
SAFE = zeep.Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True)


def _session(gateway: GatewayServer, headers: dict[str, str]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE would override the dev CA below
    session.verify = str(gateway.ca_bundle)
    session.headers.update(headers)
    return session


def soap_client(gateway: GatewayServer, path: str, key: str | None = None) -> zeep.Client:
    """A zeep client from the gateway's own WSDL, the API key on every request."""
    session = _session(gateway, {"Authorization": f"Bearer {key or gateway.api_key}"})
    transport = Transport(session=session, timeout=60, operation_timeout=60)
    return zeep.Client(f"{gateway.base_url}{path}?wsdl", transport=transport, settings=SAFE)


@pytest.fixture(scope="module", params=VERSIONS)
def client(request: pytest.FixtureRequest, gateway: GatewayServer) -> Iterator[zeep.Client]:
    soap = soap_client(gateway, request.param)
    yield soap
    soap.transport.session.close()


def fault_of(call: Any, **fields: Any) -> Fault:
    with pytest.raises(Fault) as caught:
        call(**fields)
    return caught.value


def codes(fault: Fault) -> str:
    """``Client.<slug>`` (SOAP 1.1 faultcode), or ``Sender``/``<slug>`` (1.2 Code and Subcode)."""
    subcodes = [etree.QName(code).localname for code in (fault.subcodes or [])]
    return ".".join([str(fault.code), *subcodes])


def problem(fault: Fault) -> dict[str, str]:
    """The problem document carried in the fault's detail, as ``{field: text}``."""
    element = fault.detail.find(f"{{{NS}}}problem")
    assert element is not None, etree.tostring(fault.detail)
    return {etree.QName(child).localname: child.text or "" for child in element}


def test_traits_search_finds_the_persona(client: zeep.Client) -> None:
    answer = client.service.searchByTraits(**ADRTROIS_DOMINIQUE)

    assert (answer.status, answer.code) == ("found", "00")
    assert (answer.ins.matricule, answer.ins.key) == ("297022A020778", "78")
    assert (answer.ins.oid, answer.ins.kind, answer.ins.key_valid) == (NIR_OID, "NIR", True)
    assert answer.identity.first_names == ["DOMINIQUE"]
    assert answer.identity.birth_place == "2A020"
    assert answer.identity_status == "RECUP"
    assert answer.sent.birth_name == "ADRTROIS"
    assert answer.message_id.startswith("uuid:")
    assert answer.history == []


def test_progressive_first_names_found_on_second_attempt(client: zeep.Client) -> None:
    answer = client.service.searchByTraits(
        birth_name="TCHITCHI",
        first_names=["OLA", "CATARINA", "BELLA"],
        sex="F",
        birth_date="1936-06-21",
    )

    assert answer.status == "found"
    assert answer.ins.matricule == "2360663220836"
    assert [attempt.code for attempt in answer.attempts] == ["01", "00"]
    assert len({attempt.message_id for attempt in answer.attempts}) == 2


def test_lunar_birth_date_is_accepted(client: zeep.Client) -> None:
    answer = client.service.searchByTraits(
        birth_name="LUNAIRE", first_names=["MARIE"], sex="F", birth_date="1950-00-00"
    )

    assert (answer.status, answer.ins.matricule) == ("found", "2509999350123")
    assert answer.identity.birth_date == "1950-00-00"


def test_verify_with_the_right_ins_is_verified(client: zeep.Client) -> None:
    held = {"matricule": "297022A020778", "key": "78", "oid": NIR_OID}

    answer = client.service.verifyIns(ins=held, **ADRTROIS_DOMINIQUE)

    assert answer.verdict == "verified"
    assert answer.differences == []
    assert answer.ins.matricule == "297022A020778"


def test_verify_with_another_ins_lists_it_as_json_text(client: zeep.Client) -> None:
    held = {"matricule": "2751263220749", "key": "74", "oid": NIR_OID}

    answer = client.service.verifyIns(ins=held, **ADRTROIS_DOMINIQUE)

    assert answer.verdict == "mismatch"
    difference = answer.differences[0]
    assert difference.field == "ins"
    assert json.loads(difference.given) == {"matricule": "2751263220749", "key": "74"}
    assert json.loads(difference.official) == {"matricule": "297022A020778", "key": "78"}


def test_vitale_search_finds_the_card_holder(client: zeep.Client) -> None:
    answer = client.service.searchByVitale(
        beneficiary_matricule="297022A02077878",
        birth_name="ADRTROIS",
        birth_date="1997-02-26",
        birth_rank="1",
    )

    assert (answer.status, answer.ins.matricule, answer.ins.key) == (
        "found",
        "297022A020778",
        "78",
    )
    assert answer.sent.beneficiary_matricule == "297022A02077878"
    assert answer.sent.birth_rank == "1"


def test_impossible_date_is_a_client_fault_naming_the_field(client: zeep.Client) -> None:
    fault = fault_of(
        client.service.searchByTraits, **{**ADRTROIS_DOMINIQUE, "birth_date": "2023-02-30"}
    )

    assert "invalid-input" in codes(fault)
    assert "Client" in codes(fault) or "Sender" in codes(fault)
    document = problem(fault)
    assert document["type"] == PROBLEM + "invalid-input"
    assert (document["field"], document["status"]) == ("birth_date", "400")
    assert document["reason"]


def test_missing_field_is_named_like_in_json(client: zeep.Client) -> None:
    fields = {k: v for k, v in ADRTROIS_DOMINIQUE.items() if k != "sex"}

    fault = fault_of(client.service.searchByTraits, **fields)

    assert problem(fault)["field"] == "sex"


def test_doubtful_identity_is_not_eligible(client: zeep.Client) -> None:
    fault = fault_of(client.service.searchByTraits, **ADRTROIS_DOMINIQUE, flags=["douteuse"])

    assert "identity-not-eligible" in codes(fault)
    assert problem(fault)["type"] == PROBLEM + "identity-not-eligible"


@pytest.mark.parametrize("path", VERSIONS)
def test_wrong_api_key_is_unauthorized(gateway: GatewayServer, path: str) -> None:
    stranger = soap_client(gateway, path, key="not-the-key")

    fault = fault_of(stranger.service.searchByTraits, **ADRTROIS_DOMINIQUE)

    assert "unauthorized" in codes(fault)
    assert problem(fault)["status"] == "401"


def test_teleservice_fault_is_a_server_fault_with_its_codes(
    gateway_factory: GatewayFactory, mock_server: MockServer, dev_pki: DevPki
) -> None:
    other = gateway_factory(mock_server.url, INSI_CERT_MANU=str(dev_pki.other_cn.p12))

    fault = fault_of(soap_client(other, "/soap12").service.searchByTraits, **ADRTROIS_DOMINIQUE)

    assert codes(fault).endswith("Receiver.upstream-fault")
    document = problem(fault)
    assert (document["type"], document["status"]) == (PROBLEM + "upstream-fault", "502")
    upstream = fault.detail.find(f"{{{NS}}}problem/{{{NS}}}upstream/{{{NS}}}error_code")
    assert upstream is not None
    assert upstream.text == "DESIR_560"


# --- raw HTTP: headers, hostile XML, logs --------------------------------------------------

ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:g="{ns}">
  <s:Body><g:searchByTraits>{fields}</g:searchByTraits></s:Body>
</s:Envelope>"""
TRAITS_XML = (
    "<g:birth_name>ADRTROIS</g:birth_name><g:first_names>DOMINIQUE</g:first_names>"
    "<g:sex>F</g:sex><g:birth_date>1997-02-26</g:birth_date>"
)


def post(gateway: GatewayServer, body: bytes | str, **headers: str) -> requests.Response:
    data = body.encode() if isinstance(body, str) else body
    sent = {"Content-Type": "text/xml; charset=utf-8", "X-API-Key": gateway.api_key, **headers}
    return requests.post(
        gateway.base_url + "/soap",
        data=data,
        headers=sent,
        verify=str(gateway.ca_bundle),
        timeout=60,
    )


def test_x_api_key_and_request_id_are_honoured(gateway: GatewayServer) -> None:
    response = post(
        gateway, ENVELOPE.format(ns=NS, fields=TRAITS_XML), **{"X-Request-ID": "soap-7"}
    )

    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "soap-7"
    assert "<tns:request_id>soap-7</tns:request_id>" in response.text
    assert "<tns:matricule>297022A020778</tns:matricule>" in response.text


def test_xxe_is_refused_before_parsing(gateway: GatewayServer) -> None:
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        + ENVELOPE.format(ns=NS, fields=TRAITS_XML.replace("ADRTROIS", "&xxe;")).split("\n", 1)[1]
    )

    response = post(gateway, xxe)

    assert response.status_code == 500  # SOAP 1.1: every fault is an HTTP 500
    assert "soap11env:Client.xml-rejected" in response.text
    assert "root:" not in response.text
    assert "/bin/" not in response.text


def test_oversized_body_is_refused(gateway: GatewayServer) -> None:
    padding = "<!-- " + "x" * 70_000 + " -->"

    response = post(gateway, ENVELOPE.format(ns=NS, fields=TRAITS_XML + padding))

    assert "Client.xml-rejected" in response.text
    assert "larger than" in response.text


def test_unknown_element_is_a_malformed_request(gateway: GatewayServer) -> None:
    response = post(
        gateway, ENVELOPE.format(ns=NS, fields=TRAITS_XML + "<g:nickname>D</g:nickname>")
    )

    assert "Client.malformed-request" in response.text
    assert "nickname" in response.text


def test_one_log_line_per_soap_request_without_identity(gateway: GatewayServer) -> None:
    post(gateway, ENVELOPE.format(ns=NS, fields=TRAITS_XML), **{"X-Request-ID": "soap-log"})

    lines = [
        json.loads(line) for line in gateway.process.output().splitlines() if line.startswith("{")
    ]
    mine = [line for line in lines if line.get("request_id") == "soap-log"]
    assert len(mine) == 1
    assert (mine[0]["path"], mine[0]["operation"], mine[0]["outcome"]) == ("/soap", "search", "00")
    assert "upstream_ms" in mine[0]
    text = gateway.process.output()
    for secret in ("ADRTROIS", "DOMINIQUE", "1997-02-26", "297022A020778"):
        assert secret not in text


# --- every persona, every operation (the same table as the JSON side) ---------------------------


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.id)
def test_every_persona_by_traits(client: zeep.Client, persona: Expected) -> None:
    answer = client.service.searchByTraits(**persona.traits())

    if persona.matricule is None:
        assert (answer.status, answer.ins) == ("not_found", None)
        return
    assert answer.status == "found"
    assert (answer.ins.matricule, answer.ins.key, answer.ins.oid) == (
        persona.matricule,
        persona.key,
        persona.oid,
    )
    assert list(answer.identity.first_names) == list(persona.first_names)
    assert answer.identity_status == "RECUP"
    assert {(h.matricule, h.key) for h in answer.history or []} == set(persona.history)


@pytest.mark.parametrize("persona", WITH_CARD, ids=lambda p: p.id)
def test_every_card_by_vitale(client: zeep.Client, persona: Expected) -> None:
    assert persona.card is not None

    answer = client.service.searchByVitale(
        **persona.card, birth_name=persona.birth_name, birth_date=persona.birth_date
    )

    assert (answer.status, answer.ins.matricule) == ("found", persona.matricule)


@pytest.mark.parametrize("persona", FOUND, ids=lambda p: p.id)
def test_every_persona_verified(client: zeep.Client, persona: Expected) -> None:
    held = {"matricule": persona.matricule, "key": persona.key, "oid": persona.oid}

    answer = client.service.verifyIns(ins=held, **persona.traits())

    assert answer.verdict == "verified"


# --- the examples of docs/soap.md, sent as they are written ------------------------------------

DOC_REQUESTS = [
    block
    for block in re.findall(r"```xml\n(.*?)```", (ROOT / "docs" / "soap.md").read_text(), re.S)
    if block.startswith("<?xml") and "searchByTraits>" in block
]


@pytest.mark.parametrize(
    ("path", "headers", "answer_type", "envelope_ns"),
    [
        (
            "/soap",
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"searchByTraits"'},
            "text/xml",
            "http://schemas.xmlsoap.org/soap/envelope/",
        ),
        (
            "/soap12",
            {"Content-Type": 'application/soap+xml; charset=utf-8; action="searchByTraits"'},
            "application/soap+xml",
            "http://www.w3.org/2003/05/soap-envelope",
        ),
    ],
)
def test_the_documented_example_is_complete_and_answers(
    gateway: GatewayServer, path: str, headers: dict[str, str], answer_type: str, envelope_ns: str
) -> None:
    (request,) = [block for block in DOC_REQUESTS if f'"{envelope_ns}"' in block]
    response = gateway.post(path, data=request.encode(), headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].split(";")[0] == answer_type
    answer = etree.fromstring(response.content)
    assert etree.QName(answer).namespace == envelope_ns
    found = answer.find(".//{urn:insi-gateway:soap:v1}matricule")
    assert found is not None
    assert found.text == "297022A020778"  # ADRTROIS DOMINIQUE in the mock's persona table
