"""Floods of unauthenticated requests: refused early, journaled as counts.

A client that keeps presenting a wrong key must not cost a journal row per
request. :class:`FailureThrottle` counts failed authentications per client
address in a fixed window; past the limit, that address's wrong keys get 429
(``Retry-After``: the end of the window) instead of 401, before any database
write. A valid key from the same address still passes (the key lookup is an
indexed read), so another application behind the same address is not locked
out by a flooder.

:class:`RefusalAggregator` keeps the journal bounded: of the unauthenticated
refusals from one address with one outcome, the first of each interval is
journaled on its own (with its request id), the rest are counted and written
as one record (``client``, ``count``) when the interval ends. The state is per
process (each gunicorn worker counts for itself) and bounded in size.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.exceptions import AuthenticationThrottled

MAX_ADDRESSES = 100_000


class FailureThrottle:
    """At most ``limit`` failed authentications per address and ``window`` seconds."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._failures: dict[str, tuple[float, int]] = {}  # address -> (window start, count)
        self._lock = threading.Lock()

    def check(self, client: str | None) -> None:
        """Raise :class:`AuthenticationThrottled` while ``client`` is over its limit."""
        if client is None:
            return
        now = self._clock()
        with self._lock:
            start, count = self._failures.get(client, (now, 0))
        if count >= self._limit and now < start + self._window:
            raise AuthenticationThrottled(retry_after=max(1, math.ceil(start + self._window - now)))

    def failed(self, client: str | None) -> None:
        """Count one failed authentication from ``client``."""
        if client is None:
            return
        now = self._clock()
        with self._lock:
            start, count = self._failures.get(client, (now, 0))
            if now >= start + self._window:
                start, count = now, 0
            if len(self._failures) >= MAX_ADDRESSES and client not in self._failures:
                self._drop_expired(now)
            self._failures[client] = (start, count + 1)

    def _drop_expired(self, now: float) -> None:
        expired = [a for a, (start, _) in self._failures.items() if now >= start + self._window]
        for address in expired:
            del self._failures[address]
        if len(self._failures) >= MAX_ADDRESSES:  # a flood from that many addresses: start over
            self._failures.clear()


@dataclass(slots=True)
class Aggregate:
    """Refusals counted (not journaled one by one) for one address and outcome."""

    client: str
    outcome: str
    operation: str
    until: float
    count: int = 0


class RefusalAggregator:
    """Decides which unauthenticated refusals are journaled alone, and counts the others."""

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._open: dict[tuple[str, str], Aggregate] = {}
        self._lock = threading.Lock()

    def journal_alone(self, client: str, outcome: str, operation: str) -> bool:
        """True for the first refusal of an interval (journal it); else it is counted."""
        now = self._clock()
        with self._lock:
            current = self._open.get((client, outcome))
            if current is not None and now < current.until:
                current.count += 1
                return False
            if len(self._open) >= MAX_ADDRESSES:
                return True  # never grow without bound: journal it on its own instead
            self._open[(client, outcome)] = Aggregate(
                client, outcome, operation, now + self._interval
            )
            return True

    def due(self, *, everything: bool = False) -> list[Aggregate]:
        """The intervals that ended (all of them with ``everything``) holding counted refusals."""
        now = self._clock()
        with self._lock:
            ended = [k for k, a in self._open.items() if everything or now >= a.until]
            closed = [self._open.pop(key) for key in ended]
        return [aggregate for aggregate in closed if aggregate.count]
