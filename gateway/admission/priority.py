"""Interactive traffic first: batch workers step aside while people are waiting on an answer.

A clinician at a registration desk waits for ``POST /v1/ins/search``; nobody
waits for row 4,812 of an overnight job. Interactive requests register with
the process-wide :class:`InteractiveGate` while they are in flight; a batch
worker calls :meth:`InteractiveGate.wait_for_batch_turn` before each upstream
call and waits while more than ``threshold`` interactive requests are in flight.

The wait is bounded (``max_wait``): under constant interactive load each batch
worker still sends one call per ``max_wait`` (its share), so a job can never
starve.
The gate is per process (each gunicorn worker has its own): it orders the
calls that share this process's upstream connections, which is what matters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_MAX_WAIT = 5.0


class InteractiveGate:
    """Counts interactive requests in flight; batch workers wait for their turn."""

    def __init__(self, threshold: int = 0, *, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        if threshold < 0:
            raise ValueError("threshold must be zero or more")
        self._threshold = threshold
        self._max_wait = max_wait
        self._in_flight = 0
        self._changed = threading.Condition()

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    @contextmanager
    def interactive(self) -> Iterator[None]:
        """Wrap an interactive request: batch calls hold back until it is over."""
        with self._changed:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                # Waiters can only go once the load is down to the threshold: waking
                # them at every request's end would make each idle batch worker
                # switch in and out (two context switches per worker per request).
                if self._in_flight <= self._threshold:
                    self._changed.notify_all()

    def wait_for_batch_turn(
        self, timeout: float | None = None, *, since: float | None = None
    ) -> bool:
        """Block while interactive requests are in flight above the threshold.

        Returns True when the batch may go: the load fell to the threshold,
        or the batch has waited ``max_wait`` since ``since`` (its share under
        steady interactive load). Returns False only when ``timeout`` passed
        first, so a caller can check its stop flag and call again *with the
        same* ``since``: the share is counted from when the batch call began
        waiting, not from each poll (before, a 1 s poll against a 5 s promise
        meant no turn at all under steady load).
        """
        now = time.monotonic()
        turn_at = (now if since is None else since) + self._max_wait
        deadline = turn_at if timeout is None else min(turn_at, now + timeout)
        with self._changed:
            while self._in_flight > self._threshold:
                now = time.monotonic()
                if now >= deadline:
                    return now >= turn_at
                self._changed.wait(deadline - now)
        return True
