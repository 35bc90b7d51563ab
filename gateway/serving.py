"""Run a WSGI app factory under gunicorn, from our own CLI.

Both servers (the gateway and the mock teleservice) are real gunicorn
processes. The app is loaded in each worker after the fork (no
``preload_app``), so keys, TLS sessions and the zeep client are built once
per worker process and never shared across a fork.
"""

from __future__ import annotations

import atexit
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
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


def metrics_directory(env: MutableMapping[str, str]) -> Path:
    """The workers' metrics directory (prometheus-client multiprocess mode), emptied.

    ``PROMETHEUS_MULTIPROC_DIR`` if set, else a private temporary directory removed when the
    master exits. Called by the master before the workers fork: each worker writes its
    values there and a scrape adds them up. Old files would add a previous run's counts,
    so it starts empty.
    """
    given = env.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="insi-gateway-metrics-"))
        env["PROMETHEUS_MULTIPROC_DIR"] = str(path)
        atexit.register(_remove_if_master, path, os.getpid())
    if "prometheus_client.values" in sys.modules:  # imported before: it read the env then
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return path


def _remove_if_master(path: Path, master: int) -> None:
    """Workers run the master's atexit handlers too: only the master removes the directory."""
    if os.getpid() == master:
        shutil.rmtree(path, ignore_errors=True)


def forget_worker(metrics_dir: Path) -> Callable[[Any, Any], None]:
    """gunicorn ``child_exit`` hook: a dead worker's live gauges (in flight...) stop counting."""

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, str(metrics_dir))  # type: ignore[no-untyped-call]

    return child_exit


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
