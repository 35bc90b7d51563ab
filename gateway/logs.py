"""Structured logs: one JSON line per event on stdout, never a body, never identity traits.

A request's facts (request id, message id, operation, upstream status and
latency) accumulate in a :class:`RequestScope` held in a context variable,
so the service core can note upstream facts without knowing about HTTP,
and the interface writes exactly one line per request at the end.
Values go through ``json.dumps``: a CR/LF or control character in any field
cannot split a line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_QUIET = ("zeep", "zeep.transports", "zeep.wsdl", "zeep.xsd", "urllib3", "requests", "signxml")


@dataclass(slots=True)
class RequestScope:
    """Facts about the request being served; mutable, owned by one request."""

    request_id: str
    trace_id: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


_scope: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "gateway_request_scope", default=None
)


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def open_scope(request_id: str, traceparent: str = "") -> contextvars.Token[RequestScope | None]:
    """Start a request's scope; a valid W3C ``traceparent`` gives its trace id, else a new one."""
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    valid = match is not None and match.group(1) != "0" * 32 and match.group(2) != "0" * 16
    trace_id = match.group(1) if valid and match else secrets.token_hex(16)
    return _scope.set(RequestScope(request_id, trace_id, {"trace_id": trace_id}))


def outgoing_traceparent() -> str | None:
    """The ``traceparent`` to send upstream: same trace, a new span id."""
    scope = _scope.get()
    return f"00-{scope.trace_id}-{secrets.token_hex(8)}-01" if scope else None


def close_scope(token: contextvars.Token[RequestScope | None]) -> RequestScope | None:
    scope = _scope.get()
    _scope.reset(token)
    return scope


def accepted_request_id(presented: str) -> str:
    """The caller's ``X-Request-ID`` when it is safe to echo and log as is, else a new UUID."""
    return presented if _REQUEST_ID.fullmatch(presented) else str(uuid.uuid4())


def finish_request(
    logger: logging.Logger,
    token: contextvars.Token[RequestScope | None],
    *,
    request_id: str,
    method: str,
    path: str,
    status: int,
    started: float,
    listener: Callable[[Mapping[str, Any]], None] | None = None,
) -> None:
    """Close the request's scope and write its one line; ``started`` is a ``perf_counter()``.

    ``listener`` (the metrics) gets the same facts as the line.
    """
    scope = close_scope(token)
    fields = dict(scope.fields) if scope else {}
    fields.setdefault("outcome", "ok" if status < 400 else "error")
    if listener is not None:
        listener({**fields, "status": status})
    event(
        logger,
        "request",
        request_id=request_id,
        method=method,
        path=path,
        status=status,
        total_ms=round((time.perf_counter() - started) * 1000, 2),
        **fields,
    )


def note(**facts: Any) -> None:
    """Record facts on the current request (no-op outside a request)."""
    scope = _scope.get()
    if scope is not None:
        scope.fields.update(facts)


def note_upstream(
    *, operation: str | None = None, seconds: float | None = None, status: int | None = None
) -> None:
    """Record an upstream attempt's facts; latency accumulates across attempts."""
    scope = _scope.get()
    if scope is None:
        return
    if operation is not None:
        scope.fields["upstream_operation"] = operation
    if seconds is not None:
        total = scope.fields.get("upstream_ms", 0.0) + seconds * 1000
        scope.fields["upstream_ms"] = round(total, 2)
    if status is not None:
        scope.fields["upstream_status"] = status


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "event", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__  # the type only: no payload echo
        return json.dumps(line, ensure_ascii=True, default=str)


def configure(level: str) -> None:
    """Route the gateway's logs to stdout as JSON lines; silence body-logging libraries."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("gateway")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def event(
    logger: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    logger.log(level, message, extra={"fields": fields})
