"""The mock INSi teleservice as a plain WSGI app (werkzeug request/response objects).

``POST /lps`` plays ``rechercherInsAvecTraitsIdentite`` and
``rechercherInsAvecCarteVitale``; ``GET /healthz`` tells a test the worker is
up. Checks run in the order a real front end would apply them: client
certificate CN, envelope, VIHF, software IDAM, then the body. Failures and
latency are injected on ``/lps`` only, so readiness probes stay reliable.

Nothing here logs a request or response body, nor identity traits: the
request log keeps a SHA-256 of the traits, enough to count and correlate calls.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import random
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from gateway import logs
from gateway.exceptions import MalformedRequest, XmlRejected
from gateway.mock import responses
from gateway.mock.card_check import verify_card_assertion
from gateway.mock.contract import ContractViolation, validate_envelope
from gateway.mock.personas import Persona, search_by_traits, search_by_vitale, unavailable_for
from gateway.mock.requests import (
    Peer,
    SoapRequest,
    SoapVersionMismatch,
    parse_request,
    read_traits,
    read_vitale,
    tls_peer,
)
from gateway.mock.settings import AuthMode, FailureMode, MockSettings
from gateway.mock.vihf_check import VihfRejectedError, verify_vihf
from gateway.models import Operation, TraitsQuery
from gateway.protocol.vihf import ATTR_ACTIVITY_SECTOR

ALLOWED_CLIENT_CNS = frozenset({"INSI-MANU", "INSI-AUTO"})
MAX_BODY_BYTES = 1024 * 1024
SOAP_RESPONSE_TYPE = "application/soap+xml; charset=utf-8"

_log = logging.getLogger("gateway.mock")


class _FaultError(Exception):
    """Internal: stop processing and answer this SOAP fault."""

    def __init__(self, fault: responses.Fault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


@dataclass
class _Exchange:
    """What one ``/lps`` call did, for the request log (never traits in clear)."""

    peer: Peer
    started: str = ""  # when the call arrived: with ``time`` (answered), calls in flight
    raw: bytes = b""
    request: SoapRequest | None = None
    signed: bool = False
    vihf_subject: str | None = None
    vihf_qualifier: str | None = None
    vihf_sector: str | None = None
    traceparent: str | None = None
    cookie: bool = False  # the request carried a Cookie header
    traits_hash: str | None = None
    outcome: str = ""
    injected: str | None = None

    def record(self) -> dict[str, Any]:
        request = self.request
        return {
            "time": datetime.now(UTC).isoformat(),
            "started": self.started,
            "operation": request.operation.value if request else None,
            "message_id": request.message_id if request else None,
            "client_cn": self.peer.common_name,
            "signed": self.signed,
            "vihf_subject": self.vihf_subject,
            "vihf_qualifier": self.vihf_qualifier,
            "vihf_sector": self.vihf_sector,
            "traceparent": self.traceparent,
            "cookie": self.cookie,
            "outcome": self.outcome,
            "traits_hash": self.traits_hash,
            "injected": self.injected,
        }


def traits_hash(query: TraitsQuery) -> str:
    """SHA-256 hex of ``NomNaissance|Prenom|Sexe|DateNaissance|LieuNaissance``.

    First names are space-joined, an absent birth place is empty: the same
    search always hashes the same, and no name is ever written in clear.
    """
    parts = (
        query.birth_name,
        " ".join(query.first_names),
        query.sex,
        query.birth_date,
        query.birth_place or "",
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class _RequestLog:
    """Appends one JSON line per call.

    One ``os.write`` on an ``O_APPEND`` descriptor per line, so lines written by
    concurrent workers and threads never interleave.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path

    def append(self, record: dict[str, Any]) -> None:
        if self._path is None:
            return
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class _FailureDraw:
    """Decides per request whether to inject the configured failure (seeded when asked)."""

    def __init__(self, settings: MockSettings) -> None:
        self._rate = settings.failure_rate
        self._mode = settings.failure_mode
        self._random = random.Random(settings.seed)  # noqa: S311 - test traffic, not crypto
        self._lock = threading.Lock()

    def draw(self) -> FailureMode | None:
        if self._rate <= 0:
            return None
        with self._lock:
            hit = self._random.random() < self._rate
        return self._mode if hit else None


class MockApp:
    """WSGI callable; one per gunicorn worker, shared by its threads.

    Its state is read-only except the failure draw, which is locked.
    """

    def __init__(self, settings: MockSettings) -> None:
        self._settings = settings
        self._log = _RequestLog(settings.request_log)
        self._failures = _FailureDraw(settings)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/healthz" and request.method == "GET":
            response = Response('{"status":"ok"}', content_type="application/json")
        elif request.path == "/lps" and request.method == "POST":
            response = self._lps(request, environ)
        elif request.path in ("/lps", "/healthz"):
            response = Response("method not allowed\n", status=405, content_type="text/plain")
        else:
            response = Response("not found\n", status=404, content_type="text/plain")
        return response(environ, start_response)

    def _lps(self, request: Request, environ: WSGIEnvironment) -> Response:
        started = datetime.now(UTC).isoformat()
        if self._settings.latency_ms:
            time.sleep(self._settings.latency_ms / 1000)
        data = request.stream.read(MAX_BODY_BYTES + 1)
        exchange = _Exchange(
            peer=tls_peer(environ),
            started=started,
            raw=data,
            traceparent=environ.get("HTTP_TRACEPARENT"),
            cookie="HTTP_COOKIE" in environ,
        )
        parsed = _parse(data, request.headers.get("Content-Type", ""))
        if isinstance(parsed, SoapRequest):
            exchange.request = parsed  # logged even when a failure is injected
        failure = self._failures.draw()
        if failure is not None and failure is not FailureMode.SLOW:
            exchange.outcome = exchange.injected = failure.value
            self._log.append(exchange.record())
            return _injected(failure, environ)
        if failure is FailureMode.SLOW:
            exchange.injected = failure.value
            time.sleep(self._settings.slow_ms / 1000)
        response = self._answer(exchange, parsed)
        if self._settings.set_cookie:  # a load balancer's sticky session, say
            response.set_cookie("insi-session", secrets.token_hex(8), secure=True, httponly=True)
        self._log.append(exchange.record())
        return response

    def _answer(self, exchange: _Exchange, parsed: SoapRequest | responses.Fault) -> Response:
        style = self._settings.response_style
        try:
            body = self._process(exchange, parsed)
        except _FaultError as refused:
            fault = refused.fault
        except Exception:
            _log.exception("mock teleservice failed on a request")
            fault = responses.internal_error("erreur interne du service simule")
        else:
            return Response(body, status=200, content_type=SOAP_RESPONSE_TYPE)
        exchange.outcome = fault.error_code
        message_id = exchange.request.message_id if exchange.request else None
        _log_fault(fault, message_id)
        xml = responses.fault_envelope(fault, style=style, message_id=message_id)
        return Response(xml, status=500, content_type=SOAP_RESPONSE_TYPE)

    def _process(self, exchange: _Exchange, parsed: SoapRequest | responses.Fault) -> bytes:
        cpx = self._settings.auth is AuthMode.CPX  # no client certificate on the CPx endpoint
        if not cpx and exchange.peer.common_name not in ALLOWED_CLIENT_CNS:
            raise _FaultError(
                responses.access_denied(
                    "niveau d'acces insuffisant: certificat client non habilite"
                )
            )
        if not isinstance(parsed, SoapRequest):
            raise _FaultError(parsed)
        self._check_contract(exchange.raw)
        self._capture(exchange.raw)
        self._authenticate(exchange, parsed)
        if parsed.idam not in self._settings.allowed_idam:
            raise _FaultError(responses.unknown_idam())
        matches = self._search(exchange, parsed)
        exchange.outcome = responses.result_code(matches).value
        return responses.result_envelope(matches, style=self._settings.response_style)

    def _check_contract(self, envelope: bytes) -> None:
        """With ``MOCK_CONTRACT_DIR``, refuse any envelope the official schemas reject."""
        if self._settings.contract_dir is None:
            return
        try:
            validate_envelope(envelope, self._settings.contract_dir)
        except ContractViolation as exc:
            raise _FaultError(responses.malformed(f"contrat INSi non respecte: {exc}")) from None

    def _capture(self, envelope: bytes) -> None:
        """``MOCK_CAPTURE_DIR`` (tests only): keep the envelope exactly as it arrived."""
        if self._settings.capture_dir is None:
            return
        path = self._settings.capture_dir / f"{uuid.uuid4().hex}.xml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(envelope)

    def _authenticate(self, exchange: _Exchange, request: SoapRequest) -> None:
        """A VIHF, when present, must verify; its absence is fine only with ``MOCK_AUTH=tls``."""
        if not request.security and self._settings.auth is AuthMode.TLS:
            return
        if self._settings.auth is AuthMode.CPX and self._settings.cpx_ca is not None:
            self._authenticate_card(exchange, request, self._settings.cpx_ca)
            return
        try:
            claims = verify_vihf(
                request.security,
                ca_bundle=self._settings.ca_bundle,
                client_public_key=exchange.peer.public_key,
            )
        except VihfRejectedError as exc:
            raise _FaultError(responses.vihf_rejected(f"VIHF invalide: {exc.reason}")) from None
        exchange.signed = True
        exchange.vihf_subject = claims.subject
        exchange.vihf_qualifier = claims.name_qualifier
        exchange.vihf_sector = claims.attributes[ATTR_ACTIVITY_SECTOR][0]

    def _authenticate_card(self, exchange: _Exchange, request: SoapRequest, card_ca: Path) -> None:
        """CPx: the card-signed assertion must verify against the card CAs and be unexpired."""
        try:
            claims = verify_card_assertion(
                request.security, ca_bundle=card_ca, now=datetime.now(UTC)
            )
        except VihfRejectedError as exc:
            reason = f"assertion CPx invalide: {exc.reason}"
            raise _FaultError(responses.vihf_rejected(reason)) from None
        exchange.signed = True
        exchange.vihf_subject = claims.subject

    def _search(self, exchange: _Exchange, request: SoapRequest) -> tuple[Persona, ...]:
        try:
            if request.operation is Operation.SEARCH_TRAITS:
                query = read_traits(request)
                exchange.traits_hash = traits_hash(query)
                if unavailable_for(query):
                    raise _FaultError(responses.service_unavailable())
                return search_by_traits(query)
            return search_by_vitale(read_vitale(request))
        except MalformedRequest as exc:
            raise _FaultError(responses.malformed(exc.reason)) from None


def _log_fault(fault: responses.Fault, message_id: str | None) -> None:
    """One JSON line on stdout per fault answered (:func:`gateway.logs.configure`).

    Codes and the request's ``wsa:MessageID`` only: a reason may quote what the
    schema refused, and that can be an identity trait.
    """
    logs.event(
        _log,
        "fault answered",
        level=logging.WARNING,
        code=f"soap:{fault.code}",
        subcode=fault.subcode,
        error_code=fault.error_code,
        severity=fault.severity,
        message_id=message_id,
    )


def _parse(data: bytes, content_type: str) -> SoapRequest | responses.Fault:
    """The parsed request, or the fault its parsing calls for.

    The fault is raised later, after the client certificate check, but the
    request is parsed first so the request log has its operation and MessageID
    (also for injected failures).
    """
    try:
        return parse_request(data, content_type=content_type)
    except SoapVersionMismatch as exc:
        return responses.version_mismatch(exc.reason)
    except MalformedRequest as exc:
        return responses.malformed(exc.reason)
    except XmlRejected as exc:
        return responses.malformed(exc.message)


def _injected(failure: FailureMode, environ: WSGIEnvironment) -> Response:
    """The wire form of an injected failure (``reset`` never returns: the connection is gone)."""
    if failure is FailureMode.HTTP503:
        return Response(b"", status=503)
    if failure is FailureMode.HTTP500:
        page = "<html><body><h1>500 Internal Server Error</h1></body></html>"
        return Response(page, status=500, content_type="text/html; charset=utf-8")
    if failure is FailureMode.GARBAGE:
        return Response(b"\x00garbage, not XML\xff", status=200, content_type=SOAP_RESPONSE_TYPE)
    return _reset(environ)


def _reset(environ: WSGIEnvironment) -> NoReturn:
    """Close the client connection with a TCP RST (SO_LINGER 0), then tell gunicorn it is gone."""
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    raise ConnectionResetError(errno.ECONNRESET, "mock teleservice: injected connection reset")


def create_mock_app(settings: MockSettings) -> MockApp:
    """The WSGI app for ``settings``; called once per gunicorn worker, after the fork."""
    return MockApp(settings)
