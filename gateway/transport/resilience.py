"""Surviving the teleservice's bad days: retries where safe, a retry budget, a circuit breaker,
a bound on concurrent calls, all as one :class:`Transport` wrapping another.

Retry only what cannot have been processed upstream: a failure before the
request was sent (connection refused, TLS handshake) or an HTTP 503. A read
timeout is an unknown outcome and an answer (CR or fault) is final: neither
is retried. Retries use exponential backoff with full jitter, stay inside
the call's deadline, and draw from a budget (a token bucket refilled by
successful first attempts) so that a teleservice answering 503 to everything
sees at most ~1.2 calls per incoming request, not 3.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from gateway.exceptions import UpstreamBusy, UpstreamTimeout, UpstreamUnavailable
from gateway.transport.transports import Transport, UpstreamRequest, UpstreamResponse


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    max_retries: int = 2
    backoff_base: float = 0.2  # seconds; attempt n waits up to base * 2**n
    deadline: float = 20.0  # seconds for the whole call, retries included
    retry_budget_ratio: float = 0.1  # retries allowed per first attempt, over time
    breaker_threshold: int = 5  # consecutive transport failures that open the circuit
    breaker_cooldown: float = 30.0  # seconds open before a half-open probe
    max_concurrent: int = 32  # calls in flight toward the teleservice, per process
    queue_timeout: float = 2.0  # seconds a call may wait for a slot


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after consecutive transport failures; lets one probe through after a cool-down."""

    def __init__(self, *, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self._cooldown:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def allow(self) -> None:
        """Raise ``UpstreamUnavailable`` at once while open (or while the probe is out)."""
        with self._lock:
            state = self._state()
            if state is CircuitState.CLOSED:
                return
            if state is CircuitState.HALF_OPEN and not self._probing:
                self._probing = True
                return
        raise UpstreamUnavailable("circuit open: the teleservice failed repeatedly, not calling")

    def record(self, *, transport_failed: bool) -> None:
        with self._lock:
            self._probing = False
            if not transport_failed:
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._failures >= self._threshold or self._opened_at is not None:
                self._opened_at = self._clock()


class RetryBudget:
    """Token bucket: each first attempt deposits ``ratio`` tokens, each retry spends one."""

    def __init__(self, ratio: float, *, reserve: float = 10.0) -> None:
        self._ratio = ratio
        self._reserve = reserve
        self._tokens = reserve
        self._lock = threading.Lock()

    def deposit(self) -> None:
        with self._lock:
            self._tokens = min(self._reserve, self._tokens + self._ratio)

    def withdraw(self) -> bool:
        with self._lock:
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class Resilience:
    """The state shared by every transport toward one teleservice endpoint.

    Both certificate modes reach the same endpoint: they share one circuit,
    one retry budget and one bound on concurrent calls.
    """

    def __init__(
        self,
        policy: ResiliencePolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[], None] = lambda: None,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.sleep = sleep
        self.on_retry = on_retry
        self.breaker = CircuitBreaker(
            threshold=policy.breaker_threshold, cooldown=policy.breaker_cooldown, clock=clock
        )
        self.budget = RetryBudget(policy.retry_budget_ratio)
        self.slots = threading.BoundedSemaphore(policy.max_concurrent)
        self.random = random.Random()  # noqa: S311 - jitter, not security


class ResilientTransport:
    """Wraps a transport with the shared :class:`Resilience`; itself a :class:`Transport`."""

    def __init__(self, inner: Transport, resilience: Resilience) -> None:
        self._inner = inner
        self.resilience = resilience

    def send(self, request: UpstreamRequest) -> UpstreamResponse:
        if not self.resilience.slots.acquire(timeout=self.resilience.policy.queue_timeout):
            raise UpstreamBusy("too many calls in flight toward the teleservice", retry_after=1)
        try:
            return self._send_with_retries(
                request, self.resilience.clock() + self.resilience.policy.deadline
            )
        finally:
            self.resilience.slots.release()

    def _send_with_retries(self, request: UpstreamRequest, deadline: float) -> UpstreamResponse:
        breaker = self.resilience.breaker
        self.resilience.budget.deposit()
        attempt = 0
        while True:
            breaker.allow()
            remaining = deadline - self.resilience.clock()
            try:
                response = self._inner.send(replace(request, time_left=remaining))
            except UpstreamTimeout:
                breaker.record(transport_failed=True)
                raise  # unknown outcome: never retried
            except UpstreamUnavailable as error:
                breaker.record(transport_failed=True)
                if not error.nothing_sent or not self._may_retry(attempt, deadline):
                    raise
            except BaseException:
                breaker.record(transport_failed=False)  # it answered (e.g. oversized): reachable
                raise
            else:
                breaker.record(transport_failed=response.status == 503)
                if response.status != 503 or not self._may_retry(attempt, deadline):
                    return response
            attempt += 1
            self.resilience.on_retry()

    def _may_retry(self, attempt: int, deadline: float) -> bool:
        if attempt >= self.resilience.policy.max_retries:
            return False
        pause = self.resilience.random.uniform(0, self.resilience.policy.backoff_base * 2**attempt)
        if self.resilience.clock() + pause >= deadline or not self.resilience.budget.withdraw():
            return False
        self.resilience.sleep(pause)
        return True
