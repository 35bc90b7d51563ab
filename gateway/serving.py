"""Run a WSGI app factory under gunicorn, from our own CLI.

Both servers (the gateway and the mock teleservice) are real gunicorn
processes. The app is loaded in each worker after the fork (no
``preload_app``), so keys, TLS sessions and the zeep client are built once
per worker process and never shared across a fork.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

WsgiApp = Callable[..., Any]


def tls_server_context(
    config: Any, default_factory: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """gunicorn ``ssl_context`` hook: TLS 1.2 minimum on every listener we serve."""
    context = default_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn arbiter for ``factory()``, configured from a plain mapping."""

    def __init__(self, factory: Callable[[], WsgiApp], options: Mapping[str, Any]) -> None:
        self._factory = factory
        self._options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        return self._factory()


def run(factory: Callable[[], WsgiApp], options: Mapping[str, Any]) -> None:
    """Serve until SIGTERM/SIGINT (graceful: in-flight requests finish)."""
    # gunicorn's control socket defaults to one path under $HOME shared by every server of
    # the same user: concurrent servers (gateway, mock, test servers) would fight over it.
    defaults = {"ssl_context": tls_server_context, "control_socket_disable": True}
    GunicornServer(factory, {**defaults, **options}).run()
