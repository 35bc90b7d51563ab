"""The ops endpoints (``/healthz``, ``/readyz``, ``/metrics``), and the listener of their own
they may get (``insi-gateway serve --ops-bind HOST:PORT``).

The endpoints are one Blueprint (:data:`ops`): the composition root hands it
what readiness looks at (:class:`Readiness`) and the metrics; nothing here
builds anything.

``/metrics`` and ``/readyz`` name certificate serials, application names and
the circuit's state: with ``--ops-bind`` they are served only on the ops
listener, and the port the applications use exposes only the API (and
``/healthz``, which says nothing but "alive", on both, for load balancers); the
identity-vigilance page (``/vigilance/``) is served on the ops listener only too.
gunicorn listens on both addresses; a request's listener is the local port of
its connection (the socket gunicorn hands over; ``SERVER_PORT`` otherwise, read
before any forwarded-header middleware could rewrite it), never the ``Host``
header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from gateway.exceptions import ConfigurationError, StorageError
from gateway.metrics import Metrics
from gateway.storage.database import Database
from gateway.transport.breaker import CircuitBreaker, CircuitState

OPS_ONLY = frozenset({"/metrics", "/readyz"})
# The identity-vigilance page is for people of the hospital, not for applications.
OPS_ONLY_PREFIX = "/vigilance/"
BOTH = frozenset({"/healthz"})
ON_OPS_LISTENER = "gateway.ops_listener"  # WSGI environ key set by :class:`ListenerSplit`


def ops_port(bind: str) -> int:
    """The port of ``--ops-bind HOST:PORT``; a clear error when it is not one."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError("--ops-bind", "must be HOST:PORT, e.g. 127.0.0.1:9100")
    return int(port)


class ListenerSplit:
    """WSGI: requests of the ops listener go to the Flask app alone (no SOAP, no API)."""

    def __init__(self, api: Any, flask_only: Any, port: int) -> None:
        self._api = api
        self._flask_only = flask_only
        self._port = str(port)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        on_ops = _local_port(environ) == self._port
        environ[ON_OPS_LISTENER] = on_ops
        app = self._flask_only if on_ops else self._api
        result: Iterable[bytes] = app(environ, start_response)
        return result


def _local_port(environ: dict[str, Any]) -> str:
    connection = environ.get("gunicorn.socket")
    if connection is not None:
        try:
            return str(connection.getsockname()[1])
        except (OSError, IndexError, TypeError):
            pass
    return str(environ.get("SERVER_PORT", ""))


def install(app: Flask, port: int, *, flask_only: Any) -> None:
    """Split ``app`` between the API listener and the ops listener on ``port``.

    ``flask_only`` is the Flask app's own WSGI callable, without the SOAP
    endpoints mounted around it.
    """
    app.wsgi_app = ListenerSplit(app.wsgi_app, flask_only, port)  # type: ignore[method-assign]
    app.before_request(_only_what_this_listener_serves)


def _only_what_this_listener_serves() -> None:
    """404 (the usual problem document) for what the other listener serves."""
    if request.path in BOTH:
        return
    on_ops = bool(request.environ.get(ON_OPS_LISTENER))
    if on_ops != (request.path in OPS_ONLY or request.path.startswith(OPS_ONLY_PREFIX)):
        abort(404)


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/readyz`` checks, each under its name in the readiness document."""

    certificates: Mapping[str, x509.Certificate]  # "certificate INSI-MANU" -> its certificate
    database: Database
    circuits: Mapping[str, CircuitBreaker]  # "circuit" (certificates), "circuit cpx" (CPx)
    draining: Callable[[], bool]  # SIGTERM received: still serving, leaving the pool

    def checks(self, now: datetime) -> dict[str, dict[str, object]]:
        """Every check, in the document's order: certificates, database, circuits, shutdown."""
        checks = {name: _certificate(cert, now) for name, cert in self.certificates.items()}
        try:
            self.database.check_writable()
            checks["database"] = {"ok": True, "detail": "writable"}
        except StorageError as error:
            checks["database"] = {"ok": False, "detail": error.message}
        for name, breaker in self.circuits.items():
            state = breaker.state
            checks[name] = {"ok": state is not CircuitState.OPEN, "detail": state.value}
        draining = self.draining()
        checks["shutdown"] = {"ok": not draining, "detail": "draining" if draining else "serving"}
        return checks


def _certificate(cert: x509.Certificate, now: datetime) -> dict[str, object]:
    valid = cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    days = (cert.not_valid_after_utc - now).days
    return {
        "ok": valid,
        "detail": f"{days} days left" if valid else "expired or not yet valid",
        "serial": f"{cert.serial_number:x}",
    }


ops = Blueprint("ops", __name__)


def register(app: Flask, readiness: Readiness, metrics: Metrics) -> None:
    """Serve the ops endpoints on ``app`` from what the composition root built."""
    app.extensions["insi_readiness"] = readiness
    app.extensions["insi_ops_metrics"] = metrics
    app.register_blueprint(ops)


@ops.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving (readiness is /readyz)."""
    return jsonify({"status": "ok"})


@ops.get("/readyz")
def readyz() -> Response:
    """Ready to serve: certificates valid, database writable, no circuit open, not draining.

    503 otherwise, the document naming each check and its state.
    """
    readiness: Readiness = current_app.extensions["insi_readiness"]
    checks = readiness.checks(datetime.now(UTC))
    ready = all(check["ok"] for check in checks.values())
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


@ops.get("/metrics")
def metrics() -> Response:
    """The Prometheus exposition of every worker's metrics."""
    registry: Metrics = current_app.extensions["insi_ops_metrics"]
    return Response(registry.exposition(), mimetype=registry.content_type)
