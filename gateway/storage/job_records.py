"""The records of the job store: rows to store, claimed rows, statuses and results.

They are the store's own vocabulary (:mod:`gateway.storage.jobs`), kept here,
below the runner and the interfaces that use them, so that the storage layer
imports nothing above it. :mod:`gateway.jobs` re-exports them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


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
