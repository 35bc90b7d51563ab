"""Durable batch jobs: a hospital re-verifies its whole patient base overnight.

``POST /v1/jobs`` stores every input row in the database; a runner inside each
gateway process claims rows, calls the service core with the ``INSI-AUTO``
certificate, and records each answer with its row in one transaction. See
``docs/jobs.md``. :class:`JobSettings` is read here for now; it is meant to
move into :mod:`gateway.settings` (the one place reading the environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from gateway.exceptions import ConfigurationError
from gateway.storage.job_records import ClaimedRow, JobStatus, NewRow, StoredResult, new_job_id

__all__ = [
    "ClaimedRow",
    "JobSettings",
    "JobStatus",
    "NewRow",
    "StoredResult",
    "new_job_id",
]

_N = TypeVar("_N", int, float)


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
