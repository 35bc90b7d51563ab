"""The trace every teleservice call and every refused request leaves: audit journal and metrics.

Write-ahead: before a request leaves for the teleservice, its *intent* record
(message id, app, user, operation, the matricules the caller holds; outcome
``unknown``) is committed; if that write fails, the call is not made
(:class:`JournalWriteFailed`). Once the call ends, whatever its end (answer,
fault, timeout), an *outcome* record completes it: a second record of the
chain that names the intent (``ref_seq``, ``ref_hash``) and carries the same
message id. The outcome is queued, not waited for (the answer does not
depend on it; see :mod:`gateway.storage.group_commit`). A crash between the
two leaves the intent alone: the call shows as outcome unknown, never as
absent. Matricules reach the journal only as keyed hashes (done by the journal).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from gateway import exceptions as exc
from gateway import logs
from gateway.audit.refusals import RefusalAggregator
from gateway.metrics import Metrics
from gateway.models import CallContext, InsResult, Operation
from gateway.storage.audit import AuditEntry, AuditRecord

log = logging.getLogger("gateway.audit")
# The outcome of an intent record: the call may have left, nothing is known of its end.
UNKNOWN = "unknown"
# The outcome of an intent whose call never left (a batch row cancelled or given back first).
NOT_SENT = "not-sent"

# Errors that refuse a request before any teleservice call: each gets its record too.
REFUSALS = (
    exc.InvalidInput,
    exc.AuthenticationFailed,
    exc.OperationForbidden,
    exc.AssertionRefused,
    exc.RateLimited,
    exc.IdentityNotEligible,
    exc.XmlRejected,
)


def upstream_outcome(error: BaseException) -> str:
    """``fault:<code>`` for a teleservice fault, else the error's problem slug."""
    if isinstance(error, exc.UpstreamFault):
        return f"fault:{error.error_code or error.subcode or error.code}"
    return exc.slug_of(error)


def involved(result: InsResult) -> tuple[str, ...]:
    """The matricules an answer names (active and history)."""
    return tuple(ins.matricule for ins in (result.ins, *result.history) if ins is not None)


class Journal(Protocol):
    """Where records go: :class:`AuditJournal` or its group-commit front."""

    def append(self, entry: AuditEntry) -> AuditRecord: ...

    def submit(self, entry: AuditEntry) -> None: ...


class Trail:
    def __init__(
        self,
        journal: Journal,
        metrics: Metrics | None = None,
        *,
        aggregator: RefusalAggregator | None = None,
    ) -> None:
        self._journal = journal
        self._metrics = metrics
        self._aggregator = aggregator

    def intent(
        self, context: CallContext, operation: Operation, *, matricules: Iterable[str]
    ) -> AuditRecord:
        """Commit the record of a call about to leave; raises :class:`JournalWriteFailed`."""
        return self._journal.append(
            _call_entry(
                context, operation, outcome=UNKNOWN, matricules=tuple(dict.fromkeys(matricules))
            )
        )

    def upstream_call(
        self,
        context: CallContext,
        operation: Operation,
        *,
        seconds: float,
        outcome: str,
        matricules: Iterable[str],
        intent: AuditRecord,
        identity_status: str | None = None,
    ) -> None:
        """Complete ``intent`` with the call's outcome, and the identity status it gave.

        A failure here is logged, not raised: the call was made and its
        answer is the caller's; the journal keeps showing it as outcome unknown.
        """
        if self._metrics is not None:
            self._metrics.observe_upstream(operation.value, seconds, outcome)
        self._complete(
            intent,
            _call_entry(
                context,
                operation,
                outcome=outcome,
                latency_ms=round(seconds * 1000, 2),
                matricules=tuple(dict.fromkeys(matricules)),
                ref_seq=intent.seq,
                ref_hash=intent.hash,
                identity_status=identity_status,
            ),
        )

    def not_sent(self, context: CallContext, operation: Operation, intent: AuditRecord) -> None:
        """Complete ``intent`` for a call that never left (outcome ``not-sent``), if possible."""
        entry = _call_entry(
            context, operation, outcome=NOT_SENT, ref_seq=intent.seq, ref_hash=intent.hash
        )
        self._complete(intent, entry)

    def _complete(self, intent: AuditRecord, entry: AuditEntry) -> None:
        """Queue the record completing ``intent`` (nobody waits for it); a failure is logged."""
        try:
            self._journal.submit(entry)
        except exc.JournalWriteFailed:
            fields = {"request_id": entry.request_id, "intent_seq": intent.seq}
            logs.event(log, "call outcome not journaled", level=logging.ERROR, **fields)

    def refusal(
        self,
        error: BaseException,
        *,
        request_id: str,
        operation: str | None,
        app: str | None,
        user_id: str | None,
        client: str | None = None,
        outcome: str | None = None,
    ) -> None:
        """Journal a request refused before any call; a journal failure is logged, not raised
        (the caller already gets its refusal).

        ``outcome`` names a refusal of the web layer that is not one of our errors
        (the JSON interface's ``http-413``); ours are named by their slug.

        An unauthenticated refusal (no ``app``) from ``client`` goes through the
        aggregator: the first of an interval is journaled, the others counted.
        """
        outcome = outcome or refusal_outcome(error)
        if outcome is None:
            return
        unauthenticated = app is None and client is not None
        if unauthenticated and self._aggregator is not None:
            assert client is not None
            if not self._aggregator.journal_alone(client, outcome, operation or "-"):
                return
        entry = AuditEntry(
            request_id=request_id,
            operation=operation or "-",
            outcome=outcome,
            app=app,
            user_id=user_id,
            client=client if unauthenticated else None,
        )
        self._append_refusal(entry)

    def flush_refusals(self, *, everything: bool = False) -> int:
        """Write one record per ended interval of counted refusals; how many were written."""
        if self._aggregator is None:
            return 0
        written = 0
        for aggregate in self._aggregator.due(everything=everything):
            entry = AuditEntry(
                request_id=f"refusals:{aggregate.client}",
                operation=aggregate.operation,
                outcome=aggregate.outcome,
                client=aggregate.client,
                count=aggregate.count,
            )
            written += self._append_refusal(entry)
        return written

    def _append_refusal(self, entry: AuditEntry) -> int:
        try:
            self._journal.append(entry)
            return 1
        except exc.JournalWriteFailed:
            fields = {"request_id": entry.request_id, "count": entry.count or 1}
            logs.event(log, "refusal not journaled", level=logging.ERROR, **fields)
            return 0


def refusal_outcome(error: BaseException) -> str | None:
    """The outcome a refusal is journaled with, or None when ``error`` is not a refusal."""
    if isinstance(error, REFUSALS):
        return exc.slug_of(error)
    return None


def _call_entry(context: CallContext, operation: Operation, **fields: Any) -> AuditEntry:
    """An upstream call's record: who called, how (``CPX`` or the certificate), what, and
    the type of identity document the user attested (never identity data)."""
    return AuditEntry(
        request_id=context.request_id,
        message_id=context.message_id,
        app=context.app,
        user_id=context.user_id,
        operation=operation.value,
        cert_mode=context.channel,
        evidence=context.evidence.document if context.evidence is not None else None,
        **fields,
    )
