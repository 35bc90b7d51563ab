"""The journal's watch in each worker: its head in the log, counted refusals written out.

Every ``GATEWAY_AUDIT_ANCHOR_SECONDS`` the worker logs one JSON line
``"audit head"`` with the journal's last ``seq`` and ``hash``: log retention
(shipped off the host) then keeps anchors outside the database, and
``insi-gateway audit verify --expect SEQ:HASH`` checks any of them later.
Every second it writes the aggregated refusal records whose interval ended
(:class:`gateway.audit.refusals.RefusalAggregator`), and all of them at exit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time

from gateway import logs
from gateway.audit.trail import Trail
from gateway.exceptions import StorageError
from gateway.storage.audit import AuditJournal

log = logging.getLogger("gateway.audit")
TICK_SECONDS = 1.0


class JournalWatch:
    """One daemon thread per process; :meth:`start` after the fork."""

    def __init__(self, trail: Trail, journal: AuditJournal, *, anchor_seconds: float) -> None:
        self._trail = trail
        self._journal = journal
        self._anchor = anchor_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="journal-watch", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def stop(self) -> None:
        """Stop the thread and write every counted refusal now."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._trail.flush_refusals(everything=True)

    def log_head(self) -> None:
        """One ``audit head`` line: the anchor to keep."""
        try:
            seq, head_hash = self._journal.head()
        except StorageError as error:
            logs.event(log, "audit head unreadable", level=logging.WARNING, error=error.message)
            return
        logs.event(log, "audit head", seq=seq, hash=head_hash)

    def _run(self) -> None:
        next_anchor = time.monotonic() if self._anchor > 0 else float("inf")
        while not self._stop.wait(TICK_SECONDS):
            self._trail.flush_refusals()
            if time.monotonic() >= next_anchor:
                self.log_head()
                next_anchor = time.monotonic() + self._anchor
