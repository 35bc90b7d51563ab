"""The SOAP endpoints as WSGI apps: ``/soap`` (SOAP 1.1), ``/soap12`` (SOAP 1.2); WSDL at ``?wsdl``.

Before spyne sees a request, :class:`GatewaySoapServer` authenticates it
(``Authorization: Bearer <key>`` or ``X-API-Key``), caps its size and runs
the body through :func:`gateway.protocol.xml.parse_xml`, the gateway's one
hostile-XML parser: a DTD, an entity declaration, a malformed or oversized
body never reaches spyne's parser. (spyne's own parser is safe too:
``resolve_entities=False``, ``load_dtd=False``, ``no_network=True``,
``huge_tree=False`` are its defaults in ``spyne.protocol.xml.XmlDocument``; the
pre-check makes that a second line, and answers our own ``xml-rejected``.)

Faults spyne raises itself (schema validation, wrong verb) are rewritten into
the gateway's problems, so a client only ever sees the stable slugs of
:mod:`gateway.render.problems`.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from spyne import Application
from spyne.server.wsgi import WsgiApplication, WsgiMethodContext

from gateway import logs
from gateway.admission.gatekeeper import Gatekeeper, presented_key, user_id
from gateway.exceptions import GatewayError, MalformedRequest, XmlRejected
from gateway.interfaces.oversized import drain
from gateway.interfaces.soap.envelope import (
    check_charset,
    check_envelope,
    fault_header_blocks,
)
from gateway.interfaces.soap.protocols import GatewaySoap11, GatewaySoap12
from gateway.interfaces.soap.service import (
    ENVIRON_KEY,
    InsGatewayService,
    ProblemFault,
    SoapCall,
    problem_fault,
    refused,
)
from gateway.interfaces.soap.types import NS
from gateway.metrics import Metrics
from gateway.protocol.xml import DTD_REFUSED, parse_xml
from gateway.service import InsService

log = logging.getLogger("gateway.requests")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_ADDRESS_PLACEHOLDER = "https://insi-gateway.invalid/soap-address"
_SCHEMA_ERROR = re.compile(r"SCHEMAV_[A-Z_]+: (.+)", re.DOTALL)


class GatewaySoapServer(WsgiApplication):  # type: ignore[misc]
    """spyne's WSGI server with the gateway's request bookkeeping and pre-parse checks."""

    def __init__(
        self,
        app: Any,
        *,
        service: InsService,
        gatekeeper: Gatekeeper,
        metrics: Metrics,
        max_body_bytes: int,
    ) -> None:
        super().__init__(app, max_content_length=max_body_bytes)
        self._service = service
        self._gatekeeper = gatekeeper
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self.doc.wsdl11.build_interface_document(_ADDRESS_PLACEHOLDER)
        self._wsdl_template: bytes = self.doc.wsdl11.get_interface_document()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any], wsgi_url: Any = None
    ) -> Iterable[bytes]:
        """Request id in and out, one log line per request (like the JSON interface)."""
        request_id = logs.accepted_request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        environ[ENVIRON_KEY] = SoapCall(
            self._service, self._gatekeeper, request_id, client=environ.get("REMOTE_ADDR")
        )
        started = time.perf_counter()
        token = logs.open_scope(request_id, environ.get("HTTP_TRACEPARENT", ""))
        status = [500]

        def respond(line: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            status[0] = int(line.split(" ", 1)[0])
            extra = [("X-Request-ID", request_id)]
            if status[0] == 405:  # RFC 9110 §15.5.6: a 405 says what is allowed
                extra.append(("Allow", "GET" if self.is_wsdl_query(environ) else "POST"))
            return start_response(line, [*headers, *extra], *exc_info)

        try:
            return list(super().__call__(environ, respond, wsgi_url))
        finally:
            logs.finish_request(
                log,
                token,
                request_id=request_id,
                method=environ.get("REQUEST_METHOD", ""),
                path=_logged_path(environ),
                status=status[0],
                started=started,
                listener=self._metrics.observe_request,
            )

    @staticmethod
    def is_wsdl_query(environ: dict[str, Any]) -> bool:
        """``?wsdl``: the WSDL (GET); any other request to the endpoint is a call (POST)."""
        return str(environ.get("QUERY_STRING", "")).split("=")[0].lower() == "wsdl"

    def handle_wsdl_request(
        self, req_env: dict[str, Any], start_response: Callable[..., Any], url: str
    ) -> list[bytes]:
        """The WSDL, its endpoint address taken from this request's own URL.

        spyne builds the WSDL once, from the first request's URL (its ``Host``
        header included), and cannot rebuild it: a forged first request would
        set the address every later client sends its API key to. So it is
        built once with a placeholder address, replaced per request.
        """
        logs.note(operation="wsdl")
        address = escape(url, {'"': "&quot;"}).encode()
        document = self._wsdl_template.replace(_ADDRESS_PLACEHOLDER.encode(), address)
        start_response(
            "200 OK",
            [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(document)))],
        )
        return [document]

    def handle_rpc(self, req_env: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        call: SoapCall = req_env[ENVIRON_KEY]
        envelope_ns = self.app.in_protocol.ns_soap_env
        if req_env.get("REQUEST_METHOD") != "POST":  # like HTTP's own 405s: not journaled
            wrong = MalformedRequest("a SOAP call is a POST (GET serves only ?wsdl)")
            fault = problem_fault(wrong, call.request_id)
            logs.note(outcome="http-405")
            return self._fault(req_env, fault, start_response, status="405 Method Not Allowed")
        try:
            self._authenticate(req_env, call)
            body = self._body(req_env)
            self._check_charset(body, req_env.get("CONTENT_TYPE") or "")
            check_envelope(parse_xml(body, max_bytes=self._max_body_bytes), envelope_ns)
        except GatewayError as error:
            fault = refused(call, error)
            fault.soap_headers = tuple(fault_header_blocks(error, envelope_ns))
            return self._fault(req_env, fault, start_response)
        req_env["wsgi.input"] = io.BytesIO(body)
        req_env["CONTENT_LENGTH"] = str(len(body))
        try:
            return list(super().handle_rpc(req_env, start_response))
        except Exception as error:  # a spyne crash is our bug, answered as a fault, not HTML
            return self._fault(req_env, refused(call, error), start_response)

    def _check_charset(self, body: bytes, content_type: str) -> None:
        """The declared charset, after the hostile-XML check when both fail.

        A DTD or entity declaration is refused as such (``xml-rejected``) even
        when the bytes do not match the declared charset either (a UTF-16
        document sent as ``charset=utf-8``): the attack is what gets reported.
        """
        try:
            check_charset(body, content_type)
        except MalformedRequest:
            for encoding in ("utf-8", "utf-16", "utf-32"):  # those an XML parser detects
                text = body.decode(encoding, errors="ignore")
                if "<!DOCTYPE" in text or "<!ENTITY" in text:
                    raise XmlRejected(DTD_REFUSED) from None
            raise

    def _fault(
        self,
        req_env: dict[str, Any],
        fault: ProblemFault,
        start_response: Callable[..., Any],
        status: str | None = None,
    ) -> Any:
        ctx = WsgiMethodContext(self, req_env, self.app.out_protocol.mime_type)
        ctx.in_error = ctx.out_error = fault
        ctx.transport.resp_code = status
        return self.handle_error(ctx, [], fault, start_response)

    def _authenticate(self, environ: dict[str, Any], call: SoapCall) -> None:
        """The application's key (``Authorization: Bearer`` or ``X-API-Key``), before parsing."""
        key = presented_key(
            environ.get("HTTP_AUTHORIZATION", ""), environ.get("HTTP_X_API_KEY", "")
        )
        call.app = self._gatekeeper.identify(key, call.client)
        call.user_id = user_id(environ.get("HTTP_X_USER_ID", ""))
        logs.note(app=call.app.name)

    def _body(self, environ: dict[str, Any]) -> bytes:
        """The body, read whole but never more than the cap (chunked bodies included)."""
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared and not declared.isdigit():
            raise MalformedRequest("Content-Length is not a number")
        if declared and int(declared) > self._max_body_bytes:
            drain(environ)
            raise XmlRejected(f"request body larger than {self._max_body_bytes} bytes")
        limit = int(declared) if declared else self._max_body_bytes + 1
        try:
            body: bytes = environ["wsgi.input"].read(limit)
        except Exception:  # gunicorn's InvalidChunkSize & co: the client's framing
            raise MalformedRequest("the body could not be read (invalid chunked encoding)") from (
                None
            )
        if len(body) > self._max_body_bytes:
            drain(environ, already_read=len(body))
            raise XmlRejected(f"request body larger than {self._max_body_bytes} bytes")
        return body


def _logged_path(environ: dict[str, Any]) -> str:
    """The endpoint; anything below it is the caller's text (never logged, like unknown paths)."""
    below = str(environ.get("PATH_INFO", ""))
    return str(environ.get("SCRIPT_NAME", "")) + (below if below in ("", "/") else "/(unknown)")


def _as_problem(ctx: Any) -> None:
    """spyne event ``method_exception_object``: its own faults become the gateway's problems."""
    error = ctx.out_error
    if error is None or isinstance(error, ProblemFault):
        return
    code = str(error.faultcode)
    mapped: BaseException = (
        MalformedRequest(_client_reason(code, error.faultstring))
        if code.split(".")[0] == "Client"
        else RuntimeError(code)
    )
    ctx.in_error = ctx.out_error = refused(ctx.transport.req_env[ENVIRON_KEY], mapped)


def _client_reason(code: str, faultstring: object) -> str:
    """The schema validator's message names elements, never values; other texts are not kept."""
    text = faultstring.decode() if isinstance(faultstring, bytes) else str(faultstring)
    match = _SCHEMA_ERROR.search(text)
    if code.endswith("SchemaValidationError") and match:
        return f"does not match the WSDL schema: {match.group(1).strip()}"
    return f"refused by the SOAP layer ({code})"


def _server(protocol: type[Any], **options: Any) -> GatewaySoapServer:
    application = Application(
        [InsGatewayService],
        tns=NS,
        name="InsGateway",
        in_protocol=protocol(validator="lxml"),
        out_protocol=protocol(),
    )
    application.event_manager.add_listener("method_exception_object", _as_problem)
    return GatewaySoapServer(application, **options)


def soap_wsgi_apps(
    service: InsService, gatekeeper: Gatekeeper, metrics: Metrics, *, max_body_bytes: int
) -> dict[str, WsgiApp]:
    """The SOAP endpoints to mount beside the Flask app (``DispatcherMiddleware``)."""
    # Our one line per request replaces spyne's logs, which print tracebacks and fault texts.
    logging.getLogger("spyne").setLevel(logging.CRITICAL)
    options: dict[str, Any] = {
        "service": service,
        "gatekeeper": gatekeeper,
        "metrics": metrics,
        "max_body_bytes": max_body_bytes,
    }
    return {
        "/soap": _server(GatewaySoap11, **options),
        "/soap12": _server(GatewaySoap12, **options),
    }
