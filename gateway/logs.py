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
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway import ids

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
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
    trace_id = match.group(1) if valid and match else ids.random_hex(16)
    return _scope.set(RequestScope(request_id, trace_id, {"trace_id": trace_id}))


def outgoing_traceparent() -> str | None:
    """The ``traceparent`` to send upstream: same trace, a new span id."""
    scope = _scope.get()
    return f"00-{scope.trace_id}-{ids.random_hex(8)}-01" if scope else None


def close_scope(token: contextvars.Token[RequestScope | None]) -> RequestScope | None:
    scope = _scope.get()
    _scope.reset(token)
    return scope


def accepted_request_id(presented: str) -> str:
    """The caller's ``X-Request-ID`` when it is safe to echo and log as is, else a new UUID."""
    return presented if _REQUEST_ID.fullmatch(presented) else str(ids.random_uuid())


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
    method = method if method in _METHODS else "OTHER"  # any token is a valid method: no echo
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


# gunicorn's own messages whose arguments are its own facts (versions, addresses, pids,
# signals), never a client's bytes: only these are shown with their arguments.
_GUNICORN_ARGS_SHOWN = frozenset(
    {
        "Starting gunicorn %s",
        "Listening at: %s (%s)",
        "Using worker: %s",
        "Booting worker with pid: %s",
        "Handling signal: %s",
        "Worker exiting (pid: %s)",
        "Shutting down: %s",
        "Worker (pid:%s) exited with code %s",
        "Worker (pid:%s) exited with code %s.",
        "Worker (pid:%s) was sent SIGTERM!",
        "Worker (pid:%s) was sent SIGKILL! Perhaps out of memory?",
        "Worker (pid:%s) was sent code %s!",
        "WORKER TIMEOUT (pid:%s)",
        "Parent changed, shutting down: %s",
        # gateway/server/serving.py's DrainingWorker: numbers of its own.
        "SIGTERM: draining for %.1f s, then closing the listener",
        "listener closed; finishing %d connection(s)",
    }
)
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*[0-9*]*(?:\.[0-9*]+)?[diouxXeEfFgGcrsa%]")
_INVALID_REQUEST = re.compile(
    r"Invalid request from ip=([0-9a-fA-F.:]*): \[?([A-Za-z][A-Za-z /-]{0,60})"
)


class GunicornJsonFormatter(JsonFormatter):
    """gunicorn's own log lines as JSON, never echoing what a client sent.

    gunicorn writes a malformed request line, header or URI into its messages
    (``Invalid request from ip=...: Invalid HTTP request line: '<the line>'``,
    ``Error handling request <uri>``): it can hold identity data. A message
    shows its arguments only when it is one of gunicorn's known messages about
    itself; any other shows its template; an invalid request keeps the client
    address and the kind of error (its leading words), never the content.
    Tracebacks are reduced to the exception type (:class:`JsonFormatter`).
    """

    def format(self, record: logging.LogRecord) -> str:
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        fields: dict[str, Any] = {}
        invalid = _INVALID_REQUEST.match(template)
        if invalid:
            event = "invalid request"
            fields = {"client": invalid.group(1), "error": invalid.group(2).strip()}
        elif template.startswith("Invalid request from"):
            event = "invalid request"
        elif record.args and template in _GUNICORN_ARGS_SHOWN:
            event = record.getMessage()
        else:
            event = _hidden_arguments(template) if record.args else template.replace("%%", "%")
        safe = logging.makeLogRecord(
            {**record.__dict__, "msg": event, "args": None, "fields": fields}
        )
        return super().format(safe)


def _hidden_arguments(template: str) -> str:
    """A template whose arguments are not shown: each placeholder becomes ``…``.

    No raw ``%s`` reaches a log line (a reader would take it for a bug), and
    nothing a client sent does either.
    """
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else "…", template)


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
