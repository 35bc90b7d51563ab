"""Floods of unauthenticated requests: refused early, journaled as counts.

A client that keeps presenting a wrong key must not cost a journal row per
request. :class:`FailureThrottle` counts failed authentications per client
address in a fixed window; past the limit, that address's wrong keys get 429
(``Retry-After``: the end of the window) instead of 401, before any database
write. A valid key from the same address still passes (the key lookup is an
indexed read), so another application behind the same address is not locked
out by a flooder.

What is journaled of such a flood is bounded by
:class:`gateway.audit.refusals.RefusalAggregator`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

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
