"""The upstream INSi client: zeep builds envelopes from our WSDL, a :class:`Transport` moves them.

The zeep ``Client`` parses the WSDL once, when the worker starts; per call
we only ask it for an envelope (``create_message``) and hand the bytes to the
transport. zeep's own HTTP layer is used for nothing but reading our local
WSDL files, and refuses anything remote.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zeep
from lxml import etree

from gateway import logs
from gateway.exceptions import ConfigurationError, UpstreamBadResponse, UpstreamUnavailable
from gateway.models import CertificateMode, InsResult, Operation
from gateway.protocol.results import parse_response
from gateway.transport.transports import Transport, UpstreamRequest, UpstreamResponse


def _default_wsdl() -> Path:
    """The WSDL installed with the package (``gateway/wsdl``, see setup.py), else the
    checkout's top-level ``wsdl/`` (an editable install maps the package onto it)."""
    packaged = Path(__file__).resolve().parents[1] / "wsdl" / "insi.wsdl"
    checkout = Path(__file__).resolve().parents[2] / "wsdl" / "insi.wsdl"
    return packaged if packaged.is_file() else checkout


DEFAULT_WSDL = _default_wsdl()

# Strict and hostile-safe: no DTD, no entities, no external resources, no huge trees.
ZEEP_SETTINGS = zeep.Settings(
    strict=True,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
    xml_huge_tree=False,
)

# zeep logs whole envelopes at DEBUG: keep it quiet whatever the root level is.
for _name in ("zeep", "zeep.transports", "zeep.wsdl", "zeep.xsd", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class _LocalFilesOnly(zeep.Transport):
    """zeep transport used only to load the WSDL: local files yes, network never."""

    def load(self, url: str) -> bytes:
        if "://" in url and not url.startswith("file://"):
            raise ConfigurationError("wsdl", "the WSDL must not import remote documents")
        return super().load(url)  # type: ignore[no-any-return]


class InsiClient:
    """Builds, sends and parses INSi calls; one instance per worker process."""

    def __init__(
        self,
        *,
        endpoint: str,
        transports: Mapping[CertificateMode, Transport],
        max_response_bytes: int,
        wsdl: Path = DEFAULT_WSDL,
        cpx: tuple[str, Transport] | None = None,
    ) -> None:
        if not wsdl.is_file():
            raise ConfigurationError(
                "wsdl", f"WSDL not found: {wsdl} (incomplete installation: reinstall insi-gateway)"
            )
        self._endpoint = endpoint
        self._transports = dict(transports)
        self._max_bytes = max_response_bytes
        self._cpx = cpx  # (endpoint, server-authenticated transport) of CPx mode, if enabled
        # zeep's own timeouts are set too, though it never sends a call: no path is unbounded.
        loader = _LocalFilesOnly(timeout=5, operation_timeout=5)
        self._zeep = zeep.Client(str(wsdl), settings=ZEEP_SETTINGS, transport=loader)
        self._service = self._zeep.service

    def envelope(
        self, operation: Operation, body: dict[str, Any], headers: list[etree._Element]
    ) -> bytes:
        """The SOAP 1.2 envelope for ``operation``, headers appended as given (signature done)."""
        message = self._zeep.create_message(
            self._service, operation.value, _soapheaders=headers, **body
        )
        return etree.tostring(message, xml_declaration=True, encoding="utf-8")

    def send(
        self, operation: Operation, envelope: bytes, *, mode: CertificateMode, cpx: bool = False
    ) -> UpstreamResponse:
        """Send over the mutual-TLS transport of ``mode`` (its certificate authenticates us),
        or with ``cpx`` to the CPx endpoint (server-authenticated TLS: the card assertion
        authenticates the professional)."""
        endpoint, transport = self._route(mode, cpx=cpx)
        headers = {
            "Content-Type": f'application/soap+xml; charset=utf-8; action="{operation.action}"'
        }
        traceparent = logs.outgoing_traceparent()
        if traceparent:
            headers["traceparent"] = traceparent
        return transport.send(UpstreamRequest(endpoint, envelope, headers))

    def _route(self, mode: CertificateMode, *, cpx: bool) -> tuple[str, Transport]:
        if cpx:
            if self._cpx is None:
                raise ConfigurationError("INSI_CPX_CA", "CPx mode is not configured")
            return self._cpx
        transport = self._transports.get(mode)
        if transport is None:
            raise ConfigurationError(f"INSI_CERT_{mode.name}", "no certificate configured")
        return self._endpoint, transport

    def parse(self, response: UpstreamResponse) -> InsResult:
        if response.status == 503:
            raise UpstreamUnavailable("the teleservice answered 503 (unavailable)")
        if response.status not in (200, 500):
            raise UpstreamBadResponse(
                f"unexpected HTTP status {response.status}", http_status=response.status
            )
        return parse_response(
            response.content, http_status=response.status, max_bytes=self._max_bytes
        )
