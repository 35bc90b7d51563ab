"""Audit records from many threads, committed together: one transaction (one fsync) per batch.

Each request thread still waits for its own record to be durable before it
goes on (a failed write fails the request), but concurrent requests share a
commit instead of queueing on the database's write lock one by one. Under
load this is the difference between ~1 fsync per request and ~1 per batch.

What the caller is told is what the journal holds. A caller that gives up
waiting (``wait_seconds``) withdraws its record: if the writer has not taken
it yet, it is never written and the caller gets :class:`JournalWriteFailed`;
if the writer already took it into a commit in flight, the caller waits for
that commit (bounded by the database's own lock timeouts) and gets its real
result. So "not journaled" never turns into a record written later, and a
write-ahead intent that failed is a call that was not made. The queue is
bounded (``max_queue``): past it, appends fail at once instead of piling up
behind a stalled database.

:meth:`GroupCommitJournal.submit` queues a record nobody waits for: the
outcome that completes a write-ahead intent. The intent is what must be
durable before a call leaves; its outcome only has to follow it in the
chain, which the one writer and its FIFO queue guarantee. Not waiting saves
the request thread a hand-off to the writer and back (two context switches
and a GIL round trip per call, measured in ``docs/benchmarks.md``). A submitted
record that cannot be written is logged; one still queued when the process
ends is committed by :meth:`flush`, run at exit (or by :meth:`close`, which the
worker's shutdown calls); a crash loses it, and the journal then shows its call
as outcome unknown, as for any crash mid-call.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from gateway import logs
from gateway.exceptions import JournalWriteFailed
from gateway.storage.audit import AuditEntry, AuditJournal, AuditRecord

MAX_BATCH = 256
MAX_QUEUE = 4096
WAIT_SECONDS = 10.0
# How long a caller whose record is already in a commit waits for that commit to end.
IN_FLIGHT_SECONDS = 60.0
# How long the exit hook waits for the records queued before it.
FLUSH_SECONDS = 10.0

log = logging.getLogger("gateway.audit")

# A ``None`` entry is a flush marker: resolved once every record queued before it is done.
_Item = tuple[AuditEntry | None, "Future[AuditRecord | None]"]


class GroupCommitJournal:
    """An :class:`AuditJournal` whose appends are batched by one writer thread per process."""

    def __init__(
        self,
        journal: AuditJournal,
        *,
        wait_seconds: float = WAIT_SECONDS,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self._journal = journal
        self._wait = wait_seconds
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_queue)
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._flush_at_exit = False
        self._closed = False
        self._stop_marker: Future[AuditRecord | None] | None = None

    @property
    def journal(self) -> AuditJournal:
        """The journal behind (reads: head, verify)."""
        return self._journal

    def pseudonym(self, matricule: str) -> str:
        return self._journal.pseudonym(matricule)

    def append(self, entry: AuditEntry) -> AuditRecord:
        """Queue ``entry`` and wait until it is committed, or raise :class:`JournalWriteFailed`.

        When this raises, the record is not in the journal and never will be.
        """
        done = self._enqueue(entry)
        try:
            return _written(done.result(timeout=self._wait))
        except FutureTimeout:
            if done.cancel():  # the writer had not taken it: it will skip it
                raise JournalWriteFailed("audit record not written in time") from None
        try:  # already in a commit: its outcome is the record's outcome
            return _written(done.result(timeout=IN_FLIGHT_SECONDS))
        except FutureTimeout:
            raise JournalWriteFailed("audit commit still in flight: outcome unknown") from None

    def submit(self, entry: AuditEntry) -> None:
        """Queue ``entry`` without waiting; raise :class:`JournalWriteFailed` if the queue is full.

        It is written after every record queued before it. A failure to write
        it is logged (with its request id, never its content).
        """
        self._enqueue(entry).add_done_callback(_log_if_lost(entry.request_id))

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Wait until every record queued so far is written (or failed); False on timeout."""
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                return self._queue.empty()
        try:
            self._enqueue(None).result(timeout=timeout)
        except (FutureTimeout, JournalWriteFailed):
            return False
        return True

    def close(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Write every record queued so far, then end the writer thread (worker shutdown).

        Later appends fail (:class:`JournalWriteFailed`) instead of starting a new
        writer that nothing would wait for. True when everything queued was written.
        """
        with self._lock:
            if self._closed:
                return self._queue.empty()
            writer = self._writer
            self._closed = True
            if writer is None or not writer.is_alive():
                return self._queue.empty()
            self._stop_marker = Future()
            marker = self._stop_marker
        try:
            self._queue.put((None, marker), timeout=timeout)  # after every record queued
            marker.result(timeout=timeout)
        except (queue.Full, FutureTimeout):
            return False
        writer.join(timeout)
        return True

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran (its writer thread is ended)."""
        return self._closed

    def _enqueue(self, entry: AuditEntry | None) -> Future[AuditRecord | None]:
        if self._closed:
            raise JournalWriteFailed("audit journal closed: the worker is shutting down")
        self._ensure_writer()
        done: Future[AuditRecord | None] = Future()
        try:
            self._queue.put_nowait((entry, done))
        except queue.Full:
            raise JournalWriteFailed("audit writer queue full") from None
        return done

    def _ensure_writer(self) -> None:
        # Started on first use, so in the gunicorn worker after the fork, never before.
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_forever, name="audit-writer", daemon=True
                )
                self._writer.start()
                if not self._flush_at_exit:  # a worker's graceful exit writes what is queued
                    atexit.register(self.flush)
                    self._flush_at_exit = True

    def _write_forever(self) -> None:
        while True:
            batch = self._take([self._queue.get()])
            while len(batch) < MAX_BATCH:
                try:
                    batch = self._take([self._queue.get_nowait()], batch)
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
            if any(done is self._stop_marker for _, done in batch):
                return  # close(): everything queued before it is written

    @staticmethod
    def _take(items: list[_Item], batch: list[_Item] | None = None) -> list[_Item]:
        """Add to ``batch`` the items whose caller still waits (a withdrawn one is dropped)."""
        batch = batch if batch is not None else []
        batch.extend(item for item in items if item[1].set_running_or_notify_cancel())
        return batch

    def _commit(self, batch: list[_Item]) -> None:
        entries = [entry for entry, _ in batch if entry is not None]
        waiting = [done for entry, done in batch if entry is not None]
        markers = [done for entry, done in batch if entry is None]
        try:
            records = self._journal.append_many(entries) if entries else []
        except JournalWriteFailed as error:
            for done in waiting:
                done.set_exception(error)
        else:
            for done, record in zip(waiting, records, strict=True):
                done.set_result(record)
        for marker in markers:
            marker.set_result(None)


def _written(record: AuditRecord | None) -> AuditRecord:
    assert record is not None  # only flush markers resolve to None
    return record


def _log_if_lost(request_id: str) -> Callable[[Future[AuditRecord | None]], None]:
    def check(done: Future[AuditRecord | None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            fields = {"request_id": request_id}
            logs.event(log, "queued audit record not written", level=logging.ERROR, **fields)

    return check
