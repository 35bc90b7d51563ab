"""Surviving the teleservice's bad days: retries where safe, a retry budget, a circuit breaker,
a bound on concurrent calls, all as one :class:`Transport` wrapping another.

Retry only what cannot have been processed upstream: a failure before the
request was sent (connection refused, TLS handshake) or an HTTP 503. A read
timeout is an unknown outcome and an answer (CR or fault) is final: neither
is retried. Retries use exponential backoff with full jitter, stay inside
the call's deadline, and draw from a budget (a token bucket refilled by
successful first attempts) so that a teleservice answering 503 to everything
sees at most ~1.2 calls per incoming request, not 3.

The circuit breaker (:mod:`gateway.transport.breaker`) is told the outcome of
each call once, after its retries; a retry is not attempted while the circuit
is open, and ``on_retry`` (the ``gateway_upstream_retries_total`` counter) runs
only for a retry actually sent.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gateway.exceptions import UpstreamBusy, UpstreamTimeout, UpstreamUnavailable
from gateway.transport.breaker import BreakerPolicy, CircuitBreaker
from gateway.transport.transports import Transport, UpstreamRequest, UpstreamResponse


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    max_retries: int = 2
    backoff_base: float = 0.2  # seconds; attempt n waits up to base * 2**n
    deadline: float = 20.0  # seconds for the whole call, retries included
    retry_budget_ratio: float = 0.1  # retries allowed per first attempt, over time
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    max_concurrent: int = 32  # calls in flight toward the teleservice, per process
    queue_timeout: float = 2.0  # seconds a call may wait for a slot


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
        self.breaker = CircuitBreaker(policy.breaker, clock=clock)
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
        permit = self.resilience.breaker.acquire()
        failed = True  # until an answer other than 503 says the teleservice is there
        try:
            response = self._attempts(request, deadline)
            failed = response.status == 503
            return response
        except (UpstreamTimeout, UpstreamUnavailable):
            raise
        except Exception:
            failed = False  # it answered (e.g. oversized): reachable
            raise
        finally:
            self.resilience.breaker.record(permit, failed=failed)

    def _attempts(self, request: UpstreamRequest, deadline: float) -> UpstreamResponse:
        """Send, and retry what cannot have been processed while the retry rules allow."""
        self.resilience.budget.deposit()
        attempt = 0
        while True:
            if attempt:
                self.resilience.on_retry()  # counted only when it is really sent
            remaining = deadline - self.resilience.clock()
            try:
                response = self._inner.send(replace(request, time_left=remaining))
            except UpstreamUnavailable as error:
                if not error.nothing_sent or not self._may_retry(attempt, deadline):
                    raise
            else:
                if response.status != 503 or not self._may_retry(attempt, deadline):
                    return response
            attempt += 1

    def _may_retry(self, attempt: int, deadline: float) -> bool:
        if attempt >= self.resilience.policy.max_retries or self.resilience.breaker.is_open():
            return False
        pause = self.resilience.random.uniform(0, self.resilience.policy.backoff_base * 2**attempt)
        if self.resilience.clock() + pause >= deadline or not self.resilience.budget.withdraw():
            return False
        self.resilience.sleep(pause)
        return not self.resilience.breaker.is_open()  # it may have opened during the pause
