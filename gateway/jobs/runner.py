"""The job runner: threads in each gateway process that claim rows and call the service core.

Each worker waits for its turn behind interactive traffic, claims one row (the
lease makes it someone else's if this process dies), then calls the core with
the ``INSI-AUTO`` certificate. Before *every* upstream call (a search may make
several, one per first-name attempt) it waits for its turn again (except for
the first, which the claim followed), then for a slot of the global rate
limit, shared by every job and replica through the database (or Redis, with
``REDIS_URL``), and only then renews its claim: the row is still ours (else
nothing is sent) and stays ours for the whole call. The core builds and signs
the envelope after all that.
The answer, a fault included, is recorded with the row in one transaction;
a call with no answer (timeout, unreachable, unreadable) leaves the row
claimable again after a backoff. Logs carry job ids, row numbers and error
types: never identity data.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway import exceptions as exc
from gateway import logs
from gateway.admission.priority import InteractiveGate
from gateway.ins.queries import attested
from gateway.jobs import ClaimedRow
from gateway.jobs.inputs import ANSWER_KEYS, RowKind, empty_result, error_result, row_query
from gateway.models import CallContext, CertificateMode
from gateway.render.answers import verify_answer_json
from gateway.service import InsService, VerifyAnswer
from gateway.storage.jobs import JobStore
from gateway.vigilance.recording import Asker, record

log = logging.getLogger("gateway.jobs")
# No answer came back (or none could be sent): the row is tried again later.
NO_ANSWER = (exc.UpstreamTimeout, exc.UpstreamUnavailable, exc.UpstreamBadResponse)
NOT_SENT = (exc.StorageError, exc.ConfigurationError, exc.SigningError)  # e.g. no INSI-AUTO
MAX_BACKOFF = 300.0
IDLE_POLL = 1.0
# Slots are spaced 10% wider than 1/rate: a call reaches the teleservice some milliseconds
# after its slot (the claim renewal's commit, signing), and with exact spacing that jitter
# alone puts rate + 1 calls in a window. At any rate, rate + 1 slots then span 1.1 s: up to
# 100 ms of jitter is absorbed (5% absorbed 50 ms: 14 of 10,000 windows over on the bench).
JITTER_GUARD = 0.10
PURGE_EVERY = 3600.0
HOLD_MARGIN = 10.0  # seconds a renewed claim outlasts the call, for recording its answer


class _Cancelled(Exception):
    """The row was cancelled (or re-claimed) before its first call: nothing is sent."""


class _Stopping(Exception):
    """The runner is stopping: the row goes back unanswered, nothing more is sent."""


class JobRunner:
    """Processes job rows in background threads; :meth:`start` once per process, after fork."""

    def __init__(
        self,
        store: JobStore,
        service: InsService,
        *,
        workers: int = 2,
        rate: float = 20.0,
        gate: InteractiveGate | None = None,
        lease_seconds: float = 120.0,
        retry_seconds: float = 5.0,
        retention_days: float = 7.0,
        rate_wait: Callable[[float], float] | None = None,
        activity_sector: Callable[[str], str | None] | None = None,
        call_seconds: float = 60.0,
    ) -> None:
        self._store = store
        # The VIHF secteurActivite of a job's application (docs/vihf.md); None: the default.
        self._activity_sector = activity_sector or (lambda _app: None)
        self._service = service
        self._workers = workers
        self._rate = rate
        # Seconds to wait for the next global call slot at a rate: the database's
        # shared slot by default, Redis's (same promise, no write lock) when configured.
        self._rate_wait = rate_wait or self._database_slot
        self._gate = gate or InteractiveGate()
        self._lease = lease_seconds
        # A renewed claim covers the longest call (deadline, queue) and its recording.
        self._hold = max(lease_seconds, call_seconds + HOLD_MARGIN)
        self._retry = retry_seconds
        self._retention = timedelta(days=retention_days)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()

    def start(self) -> None:
        """Start the workers and the purge loop; :meth:`stop` runs at interpreter exit."""
        if self._threads or self._workers <= 0:
            return
        prefix = f"{socket.gethostname()}:{os.getpid()}"
        for index in range(self._workers):
            target, args = self._work, (f"{prefix}:{index}",)
            self._threads.append(threading.Thread(target=target, args=args, daemon=True))
        self._threads.append(threading.Thread(target=self._housekeeping, daemon=True))
        for thread in self._threads:
            thread.start()
        atexit.register(self.stop)
        logs.event(log, "job runner started", workers=self._workers, rate=self._rate)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming, let the calls in flight finish (up to ``timeout``), give back the rest."""
        if self._stop.is_set():
            return
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        logs.event(log, "job runner stopped", alive=sum(t.is_alive() for t in self._threads))

    def _work(self, worker_id: str) -> None:
        while not self._stop.is_set():
            try:
                self._await_turn()
                claimed = self._store.claim_rows(worker_id, 1, self._lease)
                if not claimed:
                    self._stop.wait(IDLE_POLL * random.uniform(0.5, 1.5))  # noqa: S311
                    continue
                self._process(claimed[0])
            except _Stopping:
                return
            except exc.StorageError as error:
                logs.event(log, "job store unavailable", level=logging.WARNING, error=error.message)
                self._stop.wait(self._retry)
            except Exception as error:
                event = "job worker failed"
                logs.event(log, event, level=logging.ERROR, error_type=type(error).__name__)
                self._stop.wait(self._retry)

    def _process(self, row: ClaimedRow) -> None:
        self._local.row, self._local.sent, self._local.turn = row, [], True  # the claim's turn
        request_id = f"job-{row.job_id}#{row.number}"
        context = CallContext(
            request_id,
            row.message_id,
            CertificateMode.AUTO,
            app=row.app,
            activity_sector=self._activity_sector(row.app),
            before_send=self._before_send,
        )
        try:
            verdict, result = self._answer(row, context)
        except _Cancelled:
            return
        except (_Stopping, *NO_ANSWER, *NOT_SENT) as error:
            self._give_back(row, None if isinstance(error, _Stopping) else error)
            return
        except Exception as error:  # a fault answered, or a row the rules now refuse
            if not isinstance(error, exc.GatewayError):
                error_type = type(error).__name__
                logs.event(log, "job row failed", level=logging.ERROR, error_type=error_type)
            last = self._local.sent[-1] if self._local.sent else None
            args = (row.number, row.local_id, row.kind, error)
            verdict, result = "error", error_result(*args, request_id=request_id, message_id=last)
        self._record(row, verdict, result)

    def _answer(self, row: ClaimedRow, context: CallContext) -> tuple[str, dict[str, Any]]:
        query = row_query(RowKind(row.kind), row.payload)  # a search row is refused here
        answer: VerifyAnswer = self._service.verify(query, attested(context, row.payload))
        verdict, body = answer.verdict.value, verify_answer_json(answer)
        result = empty_result(row.number, row.local_id, row.kind, verdict)
        for key in ANSWER_KEYS:
            result[key] = body[key]
        result["message_id"], result["queried_at"] = body["message_id"], body["queried_at"]
        asker = Asker(app=row.app, source="batch", request_id=context.request_id)
        record(self._service, [result], replace(asker, patient_ref=row.local_id))  # vigilance
        return verdict, result

    def _record(self, row: ClaimedRow, verdict: str, result: dict[str, Any]) -> None:
        """Write the answer now; a busy database gets a few tries before the answer is lost."""
        for attempt in range(3):
            try:
                if not self._store.complete_row(row, verdict, result, self._local.sent):
                    fields = {"job_id": row.job_id, "row": row.number}
                    logs.event(log, "job row no longer ours", level=logging.WARNING, **fields)
                return
            except exc.StorageError:
                if attempt == 2:
                    raise
                time.sleep(1.0)

    def _give_back(self, row: ClaimedRow, error: Exception | None) -> None:
        """No answer: the row is claimable again, at once when stopping, else after a backoff."""
        if error is None:
            self._store.release_row(row, 0.0, self._local.sent)
            return
        base = min(MAX_BACKOFF, self._retry * 2.0 ** min(row.claims - 1, 16))
        retry = base * random.uniform(0.8, 1.2)  # noqa: S311
        self._store.release_row(row, retry, self._local.sent)
        fields = {"job_id": row.job_id, "row": row.number, "retry_in": round(retry, 1)}
        fields["error_type"] = type(error).__name__
        logs.event(log, "job row without answer", level=logging.WARNING, **fields)

    def _before_send(self, message_id: str) -> None:
        """Per upstream call: our turn, a rate slot, then the claim renewed right before sending."""
        row = getattr(self._local, "row", None)
        if not getattr(self._local, "turn", False):
            if row is not None:
                self._renew(row)  # the wait below must not cost us the row
            self._await_turn()
        self._local.turn = False
        delay = self._rate_wait(self._rate / (1 + JITTER_GUARD))
        if delay > 0 and self._stop.wait(delay):
            raise _Stopping
        if row is not None:
            self._renew(row)
            self._local.sent.append(message_id)  # recorded with the row's answer or release

    def _database_slot(self, rate: float) -> float:
        return self._store.take_rate_slot(rate) - time.time()

    def _renew(self, row: ClaimedRow) -> None:
        """Still ours? Then ours for the whole call; else cancelled or re-claimed: send nothing."""
        if not self._store.renew_claim(row, self._hold):
            raise _Cancelled

    def _await_turn(self) -> None:
        """Wait for the batch's turn behind interactive traffic (its share counted from now)."""
        since = time.monotonic()
        while not self._gate.wait_for_batch_turn(timeout=IDLE_POLL, since=since):
            if self._stop.is_set():
                raise _Stopping

    def _housekeeping(self) -> None:
        """Delete jobs past retention: results hold identity data."""
        while True:
            try:
                cutoff = datetime.now(UTC) - self._retention
                purged = self._store.purge(cutoff)
                if purged:
                    logs.event(log, "jobs purged", jobs=purged)
            except exc.StorageError as error:
                logs.event(log, "job purge failed", level=logging.WARNING, error=error.message)
            if self._stop.wait(PURGE_EVERY):
                return
