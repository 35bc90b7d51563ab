"""A circuit breaker that judges calls, not attempts.

The teleservice is judged by the outcome of whole calls (a call whose retry
succeeded is a success) over a sliding time window, as resilience4j's
time-based ``CircuitBreaker`` and Envoy's outlier detection do: the circuit
opens only when the window holds at least ``min_calls`` calls and at least
``failure_rate`` of them failed. Counting each failed attempt as a
consecutive failure (what this replaced) opened the circuit at a 30% rate of
503, although retries turned most of those calls into successes.

Open, it refuses calls at once for ``cooldown`` seconds; then it is
half-open and lets ``probes`` calls through: the circuit closes once that
many have succeeded, and any failed probe opens it again for another
cool-down. Calls beyond the probes fail fast while they are out.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.exceptions import UpstreamUnavailable

log = logging.getLogger("gateway.transport")


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    window: float = 10.0  # seconds of calls the failure rate is computed over
    min_calls: int = 20  # calls the window must hold before the rate can open the circuit
    failure_rate: float = 0.5  # fraction of failed calls in the window that opens it
    cooldown: float = 30.0  # seconds open before half-open probes
    probes: int = 3  # calls let through half-open; that many successes close the circuit


@dataclass(frozen=True, slots=True)
class Permit:
    """What :meth:`CircuitBreaker.acquire` handed out: a normal call or a half-open probe."""

    probe: bool
    generation: int  # the circuit's opening this permit belongs to


class CircuitBreaker:
    """Thread-safe; one per teleservice endpoint and process."""

    def __init__(self, policy: BreakerPolicy, *, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: deque[tuple[float, bool]] = deque()  # (finished at, failed)
        self._failures = 0
        self._opened_at: float | None = None
        self._generation = 0  # bumped at each opening: late outcomes of older calls are ignored
        self._probes_out = 0
        self._probes_passed = 0

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    def is_open(self) -> bool:
        """Whether a retry must stop: the circuit is not closed (open, or probing)."""
        return self.state is not CircuitState.CLOSED

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self._policy.cooldown:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def acquire(self) -> Permit:
        """A permit for one call; ``UpstreamUnavailable`` at once while open or probing."""
        with self._lock:
            state = self._state()
            if state is CircuitState.CLOSED:
                return Permit(probe=False, generation=self._generation)
            if state is CircuitState.HALF_OPEN and self._probes_out < self._policy.probes:
                self._probes_out += 1
                return Permit(probe=True, generation=self._generation)
        raise UpstreamUnavailable("circuit open: the teleservice is failing, not calling")

    def record(self, permit: Permit, *, failed: bool) -> None:
        """The outcome of a whole call, retries included."""
        with self._lock:
            if permit.generation != self._generation:
                return  # began before the last opening: judged already
            if permit.probe:
                self._record_probe(failed)
            elif self._opened_at is None:
                self._record_call(failed)

    def _record_probe(self, failed: bool) -> None:
        self._probes_out -= 1
        if failed:
            self._open("a half-open probe failed")
            return
        self._probes_passed += 1
        if self._probes_passed >= self._policy.probes:
            self._opened_at = None
            self._probes_out = self._probes_passed = 0
            log.warning("circuit closed: %d probe calls succeeded", self._policy.probes)

    def _record_call(self, failed: bool) -> None:
        now = self._clock()
        self._calls.append((now, failed))
        self._failures += failed
        while self._calls and self._calls[0][0] <= now - self._policy.window:
            _, old_failed = self._calls.popleft()
            self._failures -= old_failed
        calls = len(self._calls)
        if calls >= self._policy.min_calls and self._failures >= self._policy.failure_rate * calls:
            self._open(f"{self._failures} of the last {calls} calls failed")

    def _open(self, why: str) -> None:
        self._opened_at = self._clock()
        self._generation += 1
        self._calls.clear()
        self._failures = self._probes_out = self._probes_passed = 0
        log.warning("circuit opened: %s", why)
