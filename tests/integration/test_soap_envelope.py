"""The local SOAP interface follows SOAP: charsets, versions, mandatory headers, one operation.

Real gunicorn gateway over HTTPS, raw envelopes (no typed client would send
these), both endpoints.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests
from lxml import etree

from gateway.protocol.xml import parse_xml
from tests.integration.conftest import GatewayServer, MockServer, cli
from tests.integration.soap_messages import (
    NS,
    SOAP11,
    SOAP12,
    TRAITS_XML,
    V11,
    V12,
    VERSIONS,
    Version,
    envelope,
    fault_view,
    post_soap,
)

pytestmark = pytest.mark.integration

UPGRADE = f"{{{SOAP12}}}Upgrade"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
ACCENTED = TRAITS_XML.replace("ADRTROIS", "ADRTROIS\u00c9")  # one non-ASCII letter


def _journal(gateway: GatewayServer, request_id: str) -> list[dict[str, Any]]:
    lines = cli(gateway.env, "audit", "export", "--format", "jsonl").splitlines()
    return [r for r in map(json.loads, lines) if r.get("request_id") == request_id]


def _log_lines(gateway: GatewayServer, request_id: str) -> list[dict[str, Any]]:
    output = gateway.process.output()
    assert "Traceback" not in output
    return [json.loads(line) for line in output.splitlines() if request_id in line]


def _client_code(version: Version) -> str:
    return "Client" if version is V11 else "Sender"


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.path)
def test_bytes_not_in_the_declared_charset_are_a_client_fault(
    gateway: GatewayServer, version: Version
) -> None:
    request_id = f"latin1-as-utf8{version.path.replace('/', '-')}"
    body = envelope(version.envelope_ns, ACCENTED).replace('encoding="UTF-8"', "")
    latin1 = body.encode("latin-1")  # É is 0xC9: not UTF-8, as the Content-Type says

    response = post_soap(gateway, version, latin1, **{"X-Request-ID": request_id})

    fault = fault_view(response)
    assert fault.codes == (_client_code(version), "malformed-request"), response.text
    assert "not valid utf-8" in fault.reason
    assert f"offset {latin1.index(0xC9)}" in fault.reason
    assert fault.problem["request_id"] == request_id
    [line] = _log_lines(gateway, request_id)
    assert (line["status"], line["outcome"]) == (response.status_code, "malformed-request")
    assert [r["outcome"] for r in _journal(gateway, request_id)] == ["malformed-request"]


@pytest.mark.parametrize("charset", ["x-klingon", "hex"])
@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.path)
def test_an_unknown_charset_is_named(
    gateway: GatewayServer, version: Version, charset: str
) -> None:
    request_id = f"charset-{charset}{version.path.replace('/', '-')}"
    content_type = version.headers()["Content-Type"].replace("utf-8", charset)

    response = post_soap(
        gateway,
        version,
        envelope(version.envelope_ns, TRAITS_XML),
        **{"Content-Type": content_type, "X-Request-ID": request_id},
    )

    fault = fault_view(response)
    assert fault.codes == (_client_code(version), "malformed-request")
    assert f"unknown charset '{charset}'" in fault.reason
    assert [r["outcome"] for r in _journal(gateway, request_id)] == ["malformed-request"]
    assert len(_log_lines(gateway, request_id)) == 1


def test_a_declared_latin1_body_is_read_as_latin1(gateway: GatewayServer) -> None:
    body = envelope(SOAP11, ACCENTED).replace("UTF-8", "ISO-8859-1").encode("latin-1")

    response = post_soap(
        gateway, V11, body, **{"Content-Type": "text/xml; charset=ISO-8859-1"}
    )

    assert response.status_code == 200, response.text
    assert "<tns:birth_name>ADRTROISE</tns:birth_name>" in response.text  # É read, then E


HEADER_NS = "urn:example:tracking"


def _block(envelope_ns: str, must: str, role: str = "") -> str:
    role_attribute = "actor" if envelope_ns == SOAP11 else "role"
    extra = f' s:{role_attribute}="{role}"' if role else ""
    return f'<t:Trace xmlns:t="{HEADER_NS}" s:mustUnderstand="{must}"{extra}>x</t:Trace>'


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.path)
def test_a_mandatory_header_we_do_not_understand_is_a_must_understand_fault(
    gateway: GatewayServer, mock_server: MockServer, version: Version
) -> None:
    request_id = f"must-understand{version.path.replace('/', '-')}"
    sent_before = len(mock_server.logged_requests())
    body = envelope(version.envelope_ns, TRAITS_XML, header=_block(version.envelope_ns, "1"))

    response = post_soap(gateway, version, body, **{"X-Request-ID": request_id})

    fault = fault_view(response)
    assert response.status_code == 500
    assert fault.codes[0] == "MustUnderstand", response.text
    assert f"{{{HEADER_NS}}}Trace" in fault.reason
    if version is V12:  # part 1 §5.4.8: one NotUnderstood block per refused header
        assert fault.header is not None
        [block] = fault.header.iterfind(f"{{{SOAP12}}}NotUnderstood")
        prefix, local = block.get("qname", "").split(":")
        assert (block.nsmap[prefix], local) == (HEADER_NS, "Trace")
    assert len(mock_server.logged_requests()) == sent_before  # nothing was processed
    assert [r["outcome"] for r in _journal(gateway, request_id)] == ["soap-must-understand"]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.path)
def test_optional_or_foreign_role_headers_are_ignored(
    gateway: GatewayServer, version: Version
) -> None:
    ns = version.envelope_ns
    blocks = _block(ns, "0") + _block(ns, "1", role="urn:example:some-other-node")
    if version is V12:
        blocks += _block(ns, "true", role=f"{SOAP12}/role/none")

    response = post_soap(gateway, version, envelope(ns, TRAITS_XML, header=blocks))

    assert response.status_code == 200, response.text
    assert "<tns:matricule>297022A020778</tns:matricule>" in response.text


@pytest.mark.parametrize(
    ("endpoint", "sent"), [(V12, SOAP11), (V11, SOAP12)], ids=["1.1-on-soap12", "1.2-on-soap"]
)
def test_the_other_version_is_a_version_mismatch_of_the_endpoint(
    gateway: GatewayServer, endpoint: Version, sent: str
) -> None:
    request_id = f"version-{endpoint.path.strip('/')}"

    response = post_soap(
        gateway, endpoint, envelope(sent, TRAITS_XML), **{"X-Request-ID": request_id}
    )

    fault = fault_view(response)
    assert response.status_code == 500
    assert fault.envelope_ns == endpoint.envelope_ns  # the endpoint's own version
    assert fault.codes[0] == "VersionMismatch", response.text
    assert fault.header is not None
    [upgrade] = fault.header.iterfind(UPGRADE)
    [supported] = upgrade
    prefix, local = supported.get("qname", "").split(":")
    assert (supported.nsmap[prefix], local) == (endpoint.envelope_ns, "Envelope")
    assert [r["outcome"] for r in _journal(gateway, request_id)] == ["soap-version-mismatch"]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.path)
def test_two_operations_in_one_body_are_a_client_fault(
    gateway: GatewayServer, mock_server: MockServer, version: Version
) -> None:
    sent_before = len(mock_server.logged_requests())
    two = f"<g:searchByTraits>{TRAITS_XML}</g:searchByTraits>" * 2

    response = post_soap(gateway, version, envelope(version.envelope_ns, two, operation=""))

    fault = fault_view(response)
    assert fault.codes == (_client_code(version), "malformed-request")
    assert "the Body holds 2 elements" in fault.reason
    assert len(mock_server.logged_requests()) == sent_before  # not "run the first"
    assert response.status_code == (500 if version is V11 else 400)


def test_an_empty_body_is_a_client_fault(gateway: GatewayServer) -> None:
    response = post_soap(gateway, V12, envelope(SOAP12, "", operation=""))

    assert fault_view(response).codes == ("Sender", "malformed-request")
    assert "the Body holds 0 elements" in fault_view(response).reason


def _published_schema(gateway: GatewayServer, version: Version) -> etree.XMLSchema:
    response = requests.get(
        f"{gateway.base_url}{version.path}?wsdl", verify=str(gateway.ca_bundle), timeout=60
    )
    wsdl = parse_xml(response.content)
    [schema] = wsdl.iterfind(f"{{{WSDL}}}types/{{{XSD}}}schema")
    # standalone, with the WSDL's namespace declarations (its QName values use their prefixes)
    standalone = etree.Element(schema.tag, attrib=dict(schema.attrib), nsmap=schema.nsmap)
    standalone.extend(copy.deepcopy(child) for child in schema)
    return etree.XMLSchema(etree.ElementTree(standalone))


def _problem_element(response: requests.Response) -> etree._Element:
    root = parse_xml(response.content)
    [problem] = root.iter(f"{{{NS}}}problem")
    return problem


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.path)
def test_real_fault_details_validate_against_the_published_schema(
    gateway: GatewayServer, version: Version
) -> None:
    schema = _published_schema(gateway, version)
    impossible = TRAITS_XML.replace("1997-02-26", "2023-02-30")
    doubtful = TRAITS_XML + "<g:flags>douteuse</g:flags>"
    answers = [
        post_soap(gateway, version, envelope(version.envelope_ns, impossible)),
        post_soap(gateway, version, envelope(version.envelope_ns, doubtful)),
        post_soap(
            gateway, version, envelope(version.envelope_ns, TRAITS_XML), **{"X-API-Key": "x"}
        ),
    ]

    problems = [_problem_element(answer) for answer in answers]
    for problem in problems:
        assert schema.validate(etree.ElementTree(problem)), schema.error_log
    assert [p.findtext(f"{{{NS}}}status") for p in problems] == ["400", "422", "401"]
    broken = problems[0]
    broken.find(f"{{{NS}}}status").text = "four hundred"  # type: ignore[union-attr]
    assert not schema.validate(etree.ElementTree(broken))  # the schema does constrain it
