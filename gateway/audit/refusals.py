"""Refusals journaled as counts: the journal stays bounded under a flood of wrong keys.

:class:`RefusalAggregator`: of the unauthenticated refusals from one address
with one outcome, the first of each interval is journaled on its own (with its
request id), the rest are counted and written as one record (``client``,
``count``) when the interval ends. The state is per process (each gunicorn
worker counts for itself) and bounded in size. The throttle that answers 429
to such a flood is :class:`gateway.admission.floods.FailureThrottle`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_ADDRESSES = 100_000


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
