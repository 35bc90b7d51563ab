"""Durable batch jobs: a hospital re-verifies its whole patient base overnight.

``POST /v1/jobs`` stores every input row in the database; a runner inside each
gateway process claims rows, calls the service core with the ``INSI-AUTO``
certificate, and records each answer with its row in one transaction. See
``docs/jobs.md``. :class:`JobSettings` is read here for now; it is meant to
move into :mod:`gateway.settings` (the one place reading the environment).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from gateway.exceptions import ConfigurationError

_N = TypeVar("_N", int, float)


def new_job_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class NewRow:
    """A row to store: with ``result`` it is already answered (a malformed row), else pending."""

    number: int
    local_id: str | None
    kind: str
    payload: Mapping[str, Any] | None
    verdict: str | None = None
    result: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class JobStatus:
    """What ``GET /v1/jobs/{id}`` shows; ``counts`` per verdict (and ``cancelled``)."""

    job_id: str
    app: str
    state: str
    total: int
    done: int
    counts: Mapping[str, int]
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A row a worker owns until its lease ends; ``claims`` is the fencing token.

    ``message_id`` is the ``wsa:MessageID`` of its first call, recorded in
    ``attempt_message_ids`` by the claim itself, before anything is sent.
    """

    id: int
    job_id: str
    app: str
    number: int
    local_id: str | None
    kind: str
    payload: dict[str, Any]
    claims: int
    message_id: str
    attempt_message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredResult:
    """One row as ``results`` reads it: the recorded result, or None while it has none."""

    number: int
    local_id: str | None
    kind: str
    state: str
    result: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The batch-job knobs; defaults suit one hospital and the INSi rate agreements."""

    workers: int = 2  # GATEWAY_JOB_WORKERS: rows in progress at once per process (0: no runner)
    rate: float = 20.0  # GATEWAY_JOB_RATE: upstream calls per second, all jobs and replicas
    retention_days: float = 7.0  # GATEWAY_JOB_RETENTION_DAYS: then jobs and results are deleted
    lease_seconds: float = 120.0  # GATEWAY_JOB_LEASE_SECONDS: a claimed row is someone else's
    retry_seconds: float = 5.0  # GATEWAY_JOB_RETRY_SECONDS: first backoff after an upstream error
    max_rows: int = 100_000  # GATEWAY_JOB_MAX_ROWS: rows per submitted job
    max_body_bytes: int = 32 * 1024 * 1024  # GATEWAY_JOB_MAX_BODY_BYTES: size of a submission
    interactive_threshold: int = 0  # GATEWAY_JOB_INTERACTIVE_THRESHOLD: see priority.py
    # GATEWAY_JOB_MAX_CONCURRENT_SUBMISSIONS: submissions read at once per process (429 beyond)
    max_concurrent_submissions: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JobSettings:
        """Read ``GATEWAY_JOB_*`` from ``env``; errors name the variable, never echo a value."""
        default = cls()
        return cls(
            workers=_number(env, "GATEWAY_JOB_WORKERS", default.workers, int, minimum=0),
            rate=_number(env, "GATEWAY_JOB_RATE", default.rate, float),
            retention_days=_number(
                env, "GATEWAY_JOB_RETENTION_DAYS", default.retention_days, float
            ),
            lease_seconds=_number(env, "GATEWAY_JOB_LEASE_SECONDS", default.lease_seconds, float),
            retry_seconds=_number(env, "GATEWAY_JOB_RETRY_SECONDS", default.retry_seconds, float),
            max_rows=_number(env, "GATEWAY_JOB_MAX_ROWS", default.max_rows, int),
            max_body_bytes=_number(env, "GATEWAY_JOB_MAX_BODY_BYTES", default.max_body_bytes, int),
            interactive_threshold=_number(
                env,
                "GATEWAY_JOB_INTERACTIVE_THRESHOLD",
                default.interactive_threshold,
                int,
                minimum=0,
            ),
            max_concurrent_submissions=_number(
                env,
                "GATEWAY_JOB_MAX_CONCURRENT_SUBMISSIONS",
                default.max_concurrent_submissions,
                int,
            ),
        )


def _number(
    env: Mapping[str, str], name: str, default: _N, kind: type[_N], *, minimum: _N | None = None
) -> _N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise ConfigurationError(name, f"must be {expected}") from None
    if minimum is None:
        if value <= 0:
            raise ConfigurationError(name, "must be greater than zero")
    elif value < minimum:
        raise ConfigurationError(name, f"must be {minimum} or more")
    return value
