"""The gateway's gunicorn settings, chosen for I/O-bound work on every core.

Each request mostly waits for the teleservice: threads carry the waiting
(``gthread`` worker), processes carry the CPU. One worker per core by default
(each worker's Python runs on one core at a time: its GIL), 64 threads each.
Sizing rule (docs/operations.md, from bench/ figures): a worker carries at most
``1 / CPU seconds per request`` requests per second; it needs
``threads >= that rate x teleservice latency (s)`` plus headroom. Quotas and
metrics hold across workers (Redis for quotas with ``REDIS_URL``, the
multiprocess metrics directory); the circuit breaker and the upstream slots
(``INSI_MAX_CONCURRENT``) are per worker.

SIGTERM: a drain of ``drain_seconds`` (``GATEWAY_DRAIN_SECONDS``) where
``/readyz`` answers 503 and every request is still served, then the listener
closes and in-flight requests finish within ``graceful_timeout`` (see
:class:`gateway.server.serving.DrainingWorker`); then the process exits. SIGHUP:
new workers start (and load the certificates and keys afresh: renewal without
downtime) while the old ones drain the same way (their ``/readyz`` says 503
meanwhile: give the readiness probe a failure threshold above 1).
"""

from __future__ import annotations

import math
import os
from typing import Any

from gunicorn.glogging import Logger

from gateway.logs import GunicornJsonFormatter

WORKER_TIMEOUT = 60  # seconds; must exceed INSI_DEADLINE (checked at startup)


DEFAULT_THREADS = 64  # per worker: 300 req/s at 200 ms need 60 waiting threads in all


def default_workers() -> int:
    """``serve --workers`` when not given: one per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


def options(
    *,
    bind: str | list[str],
    workers: int = 1,
    threads: int = 64,
    timeout: int = WORKER_TIMEOUT,
    certfile: str | None = None,
    keyfile: str | None = None,
    drain_seconds: float = 5.0,
    pidfile: str | None = None,
) -> dict[str, Any]:
    from gateway.server.serving import draining_worker

    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": draining_worker(drain_seconds),
        "worker_connections": 1000,
        "timeout": timeout,
        # In-flight requests get 30 s after the drain (INSI_DEADLINE is 20 s by default).
        "graceful_timeout": math.ceil(drain_seconds) + 30,
        "keepalive": 5,
        "backlog": 2048,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        # Forwarded headers are GATEWAY_TRUSTED_PROXIES' business (gateway/admission/proxies.py):
        # gunicorn's own default believes X-Forwarded-Proto from 127.0.0.1 and ::1.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "accesslog": None,  # one JSON line per request comes from the app itself
        "logger_class": JsonLogger,
        "certfile": certfile,
        "keyfile": keyfile,
        "proc_name": "insi-gateway",
        "pidfile": pidfile,  # the arbiter's, for SIGHUP (certificate renewal) and systemd
    }


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's own log (start, signals, workers, invalid requests) as JSON lines.

    Same shape as the gateway's lines; never a client's bytes, never a
    traceback (see :class:`gateway.logs.GunicornJsonFormatter`).
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(GunicornJsonFormatter())
