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
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from gateway.server.lifecycle import DRAINING

WsgiApp = Callable[..., Any]


def tls_server_context(
    config: Any, default_factory: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """gunicorn ``ssl_context`` hook: TLS 1.2 minimum on every listener we serve."""
    context = default_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def metrics_directory(env: MutableMapping[str, str], given: str | None = None) -> Path:
    """The workers' metrics directory (prometheus-client multiprocess mode), emptied.

    ``given`` (default: ``env``'s ``PROMETHEUS_MULTIPROC_DIR``) if set, else a private
    temporary directory removed when the master exits. Called by the master before the
    workers fork: each worker writes its values there and a scrape adds them up. Old files
    would add a previous run's counts, so it starts empty. The path is written to ``env``
    because prometheus-client reads it from the environment of each worker.
    """
    given = (env.get("PROMETHEUS_MULTIPROC_DIR", "") if given is None else given).strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        env["PROMETHEUS_MULTIPROC_DIR"] = given  # from the configuration file, perhaps
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


class DrainingWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker with a shutdown that resets no caller.

    gunicorn's own SIGTERM stops accepting at once but closes the listening
    socket only after the in-flight requests: connections the kernel accepts
    meanwhile wait in its backlog, their requests sent, and are reset at the
    close. A caller cannot tell whether such a POST was processed.

    Here SIGTERM starts a drain: ``/readyz`` turns 503 (load balancers and
    Kubernetes take the replica out) and every answer says ``Connection:
    close``, while the worker keeps accepting and serving for
    ``drain_seconds``. Then, in one step on the worker's main thread, it takes
    every connection already in the backlog, closes the listener (a new
    connection is refused, which a proxy retries on another replica even for a
    POST, nothing having been sent) and finishes what it holds within
    ``graceful_timeout``.

    It builds on gunicorn 27's ``gthread`` worker (its ``method_queue``,
    ``accept`` and ``set_accept_enabled``): setup.cfg pins gunicorn 27.x.
    """

    drain_seconds = 5.0
    # The arbiter kills a worker whose heartbeat is older than ``timeout`` (30 s by
    # default): one beat a second is plenty, where gunicorn beats on every turn of
    # the event loop, a utime() system call (and a GIL hand-off) per request under load.
    heartbeat_seconds = 1.0
    _last_beat = 0.0

    def notify(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= self.heartbeat_seconds:
            self._last_beat = now
            super().notify()

    def handle_exit(self, sig: int, frame: Any) -> None:
        if DRAINING.is_set() or not self.alive:
            return  # already draining (the arbiter forwards the SIGTERM it gets too)
        DRAINING.set()
        self.log.info("SIGTERM: draining for %.1f s, then closing the listener", self.drain_seconds)
        timer = threading.Timer(self.drain_seconds, self.method_queue.defer, [self._stop_accepting])
        timer.daemon = True
        timer.start()

    def handle_request(self, req: Any, conn: Any) -> Any:
        """During the drain, every answer closes its connection: no idle one is left behind.

        (Per request, not through ``cfg.keepalive``: an answer already sent with
        keep-alive keeps its idle timeout, so its client's next request is served.)
        """
        if DRAINING.is_set():
            req.must_close = True
        return super().handle_request(req, conn)

    def _stop_accepting(self) -> None:
        """Take the backlog, close the listeners, end the accept loop (main thread)."""
        self.set_accept_enabled(False)
        for listener in self.sockets:
            while True:
                before = self.nr_conns
                self.accept(listener)  # non-blocking: nothing left raises EAGAIN, swallowed
                if self.nr_conns == before:
                    break
            listener.close()
        self.log.info("listener closed; finishing %d connection(s)", self.nr_conns)
        self.alive = False


def draining_worker(drain_seconds: float) -> type[DrainingWorker]:
    """The worker class for ``drain_seconds`` (gunicorn takes a class as ``worker_class``)."""
    return type("DrainingWorker", (DrainingWorker,), {"drain_seconds": drain_seconds})


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
