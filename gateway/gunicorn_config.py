"""The gateway's gunicorn settings, chosen for I/O-bound work.

Each request mostly waits for the teleservice: threads, not processes, carry
the load (``gthread`` worker). Sizing rule: a thread serves one request at a
time, so ``threads >= target requests/second x teleservice latency (s)``,
plus headroom; e.g. 300 requests/s at 200 ms needs 60 threads: the default
is 64. One worker process by default: quotas, the circuit breaker and the
metrics are per process, and one process keeps them exact; add workers (or
replicas) only when a core saturates, and divide quotas accordingly.

SIGTERM: gunicorn stops accepting, lets in-flight requests finish within
``graceful_timeout``, then exits. SIGHUP: new workers start (and load the
certificates and keys afresh: renewal without downtime) while the old ones
finish their in-flight requests.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from gateway.logs import GunicornJsonFormatter

WORKER_TIMEOUT = 60  # seconds; must exceed INSI_DEADLINE (checked at startup)


def default_workers() -> int:
    """``serve --workers`` when not given."""
    return 1


def options(
    *,
    bind: str,
    workers: int = 1,
    threads: int = 64,
    timeout: int = WORKER_TIMEOUT,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> dict[str, Any]:
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "worker_connections": 1000,
        "timeout": timeout,
        "graceful_timeout": 30,
        "keepalive": 5,
        "backlog": 2048,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        # Forwarded headers are GATEWAY_TRUSTED_PROXIES' business (gateway/proxies.py):
        # gunicorn's own default believes X-Forwarded-Proto from 127.0.0.1 and ::1.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "accesslog": None,  # one JSON line per request comes from the app itself
        "logger_class": JsonLogger,
        "certfile": certfile,
        "keyfile": keyfile,
        "proc_name": "insi-gateway",
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
