"""Raw SOAP 1.1 / 1.2 requests to the gateway's local SOAP interface, for tests below zeep.

Tests that send what no typed client would (wrong version, foreign header
blocks, odd charsets, concurrent faults) build their envelopes here.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from lxml import etree

from gateway.protocol.xml import parse_xml
from tests.integration.conftest import GatewayServer

NS = "urn:insi-gateway:soap:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TRAITS_XML = (
    "<g:birth_name>ADRTROIS</g:birth_name><g:first_names>DOMINIQUE</g:first_names>"
    "<g:sex>F</g:sex><g:birth_date>1997-02-26</g:birth_date>"
)


@dataclass(frozen=True)
class Version:
    path: str
    envelope_ns: str
    content_type: str

    def headers(self, action: str = "searchByTraits") -> dict[str, str]:
        if self.path == "/soap":
            return {"Content-Type": self.content_type, "SOAPAction": f'"{action}"'}
        return {"Content-Type": f'{self.content_type}; action="{action}"'}


V11 = Version("/soap", SOAP11, "text/xml; charset=utf-8")
V12 = Version("/soap12", SOAP12, "application/soap+xml; charset=utf-8")
VERSIONS = (V11, V12)


def envelope(
    envelope_ns: str, body: str, *, header: str = "", operation: str = "searchByTraits"
) -> str:
    """An envelope whose Body holds ``<g:operation>body</g:operation>`` (``body`` may be raw)."""
    payload = f"<g:{operation}>{body}</g:{operation}>" if operation else body
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{envelope_ns}" xmlns:g="{NS}">{head}'
        f"<s:Body>{payload}</s:Body></s:Envelope>"
    )


def post_soap(
    gateway: GatewayServer,
    version: Version,
    body: bytes | str,
    *,
    session: requests.Session | None = None,
    **headers: str,
) -> requests.Response:
    data = body.encode() if isinstance(body, str) else body
    sent = {**version.headers(), "X-API-Key": gateway.api_key, **headers}
    return (session or requests).post(
        gateway.base_url + version.path,
        data=data,
        headers=sent,
        verify=str(gateway.ca_bundle),
        timeout=120,
    )


@dataclass(frozen=True)
class FaultView:
    """A fault answer, version-neutral: its codes, its reason text, its detail and headers."""

    codes: tuple[str, ...]  # ("Client", "malformed-request") / ("Sender", "malformed-request")
    reason: str
    problem: dict[str, str]
    header: etree._Element | None
    envelope_ns: str


def fault_view(response: requests.Response) -> FaultView:
    root = parse_xml(response.content)
    envelope_ns = etree.QName(root).namespace or ""
    fault = root.find(f"{{{envelope_ns}}}Body/{{{envelope_ns}}}Fault")
    assert fault is not None, response.text
    if envelope_ns == SOAP11:
        code = fault.findtext("faultcode") or ""
        codes = tuple(code.split(":", 1)[-1].split("."))
        reason = fault.findtext("faultstring") or ""
        detail = fault.find("detail")
    else:
        values = fault.iterfind(f".//{{{SOAP12}}}Value")
        codes = tuple((value.text or "").split(":", 1)[-1] for value in values)
        reason = fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") or ""
        detail = fault.find(f"{{{SOAP12}}}Detail")
    problem = detail.find(f"{{{NS}}}problem") if detail is not None else None
    children = list(problem) if problem is not None else []
    fields = {etree.QName(child).localname: child.text or "" for child in children}
    header = root.find(f"{{{envelope_ns}}}Header")
    return FaultView(codes, reason, fields, header, envelope_ns)
