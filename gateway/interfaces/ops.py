"""The ops endpoints on a listener of their own (``insi-gateway serve --ops-bind HOST:PORT``).

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

from collections.abc import Iterable
from typing import Any

from flask import Flask, abort, request

from gateway.exceptions import ConfigurationError

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
