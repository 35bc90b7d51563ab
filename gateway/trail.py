"""The trace every teleservice call and every refused request leaves: audit journal and metrics.

A record per upstream call, whatever its outcome (answer, fault, timeout),
written before the answer goes back: if the journal cannot be written the
request fails (:class:`JournalWriteFailed`), so no call is ever untraced.
Matricules reach the journal only as keyed hashes (done by the journal).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from gateway import exceptions as exc
from gateway import logs
from gateway.interfaces.problems import problem_kind
from gateway.metrics import Metrics
from gateway.models import CallContext, InsResult, Operation
from gateway.storage.audit import AuditEntry, AuditRecord

log = logging.getLogger("gateway.audit")

# Errors that refuse a request before any teleservice call: each gets its record too.
REFUSALS = (
    exc.InvalidInput,
    exc.AuthenticationFailed,
    exc.OperationForbidden,
    exc.RateLimited,
    exc.IdentityNotEligible,
    exc.XmlRejected,
)


def upstream_outcome(error: BaseException) -> str:
    """``fault:<code>`` for a teleservice fault, else the error's problem slug."""
    if isinstance(error, exc.UpstreamFault):
        return f"fault:{error.error_code or error.subcode or error.code}"
    return problem_kind(error).slug


def involved(result: InsResult) -> tuple[str, ...]:
    """The matricules an answer names (active and history)."""
    return tuple(ins.matricule for ins in (result.ins, *result.history) if ins is not None)


class Journal(Protocol):
    """Where records go: :class:`AuditJournal` or its group-commit front."""

    def append(self, entry: AuditEntry) -> AuditRecord: ...


class Trail:
    def __init__(self, journal: Journal, metrics: Metrics | None = None) -> None:
        self._journal = journal
        self._metrics = metrics

    def upstream_call(
        self,
        context: CallContext,
        operation: Operation,
        *,
        seconds: float,
        outcome: str,
        matricules: Iterable[str],
    ) -> None:
        if self._metrics is not None:
            self._metrics.observe_upstream(operation.value, seconds, outcome)
        self._journal.append(
            AuditEntry(
                request_id=context.request_id,
                message_id=context.message_id,
                app=context.app,
                user_id=context.user_id,
                operation=operation.value,
                cert_mode=context.mode.value,
                outcome=outcome,
                latency_ms=round(seconds * 1000, 2),
                matricules=tuple(dict.fromkeys(matricules)),
            )
        )

    def refusal(
        self,
        error: BaseException,
        *,
        request_id: str,
        operation: str | None,
        app: str | None,
        user_id: str | None,
    ) -> None:
        """Journal a request refused before any call; a journal failure is logged, not raised
        (the caller already gets its refusal)."""
        if not isinstance(error, REFUSALS):
            return
        entry = AuditEntry(
            request_id=request_id,
            operation=operation or "-",
            outcome=problem_kind(error).slug,
            app=app,
            user_id=user_id,
        )
        try:
            self._journal.append(entry)
        except exc.JournalWriteFailed:
            logs.event(log, "refusal not journaled", level=logging.ERROR, request_id=request_id)
