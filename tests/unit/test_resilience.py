"""Retries, retry budget, circuit breaker and concurrency bound, over a scripted transport."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import pytest

from gateway.exceptions import UpstreamBusy, UpstreamTimeout, UpstreamUnavailable
from gateway.transport.resilience import (
    CircuitState,
    Resilience,
    ResiliencePolicy,
    ResilientTransport,
)
from gateway.transport.transports import UpstreamRequest, UpstreamResponse

REQUEST = UpstreamRequest("https://127.0.0.1:1/lps", b"<x/>", {})
Outcome = Callable[[], UpstreamResponse]


def answer(status: int) -> Outcome:
    return lambda: UpstreamResponse(status, {}, b"", 0.0)


def fail(error: Exception) -> Outcome:
    def raise_it() -> UpstreamResponse:
        raise error

    return raise_it


REFUSED = fail(UpstreamUnavailable("refused", nothing_sent=True))


class Scripted:
    """Plays outcomes in order, the last one forever; counts calls."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        return outcome()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def resilient(inner: Scripted, clock: Clock | None = None, **policy: float) -> ResilientTransport:
    clock = clock or Clock()
    shared = Resilience(ResiliencePolicy(**policy), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    return ResilientTransport(inner, shared)


def test_refused_connections_are_retried_then_succeed() -> None:
    inner = Scripted(REFUSED, REFUSED, answer(200))

    assert resilient(inner).send(REQUEST).status == 200
    assert inner.calls == 3


def test_503_is_retried_at_most_twice() -> None:
    inner = Scripted(answer(503))

    assert resilient(inner).send(REQUEST).status == 503
    assert inner.calls == 3


@pytest.mark.parametrize(
    "outcome",
    [
        fail(UpstreamTimeout("no answer")),  # unknown outcome
        fail(UpstreamUnavailable("reset mid-answer", nothing_sent=False)),  # sent
        answer(500),  # a SOAP fault is an answer
        answer(200),
    ],
)
def test_what_may_have_been_processed_is_never_retried(outcome: Outcome) -> None:
    inner = Scripted(outcome)
    with contextlib.suppress(UpstreamTimeout, UpstreamUnavailable):
        resilient(inner).send(REQUEST)
    assert inner.calls == 1


def test_retries_stay_inside_the_deadline() -> None:
    clock = Clock()

    def slow_503() -> UpstreamResponse:
        clock.now += 1.5  # the attempt alone uses up the 1 s deadline
        return UpstreamResponse(503, {}, b"", 0.0)

    inner = Scripted(slow_503)

    assert resilient(inner, clock, deadline=1.0).send(REQUEST).status == 503
    assert inner.calls == 1  # no time left for a retry, whatever the jitter draws


def test_retry_budget_bounds_calls_when_everything_fails() -> None:
    inner = Scripted(answer(503))
    transport = resilient(inner, breaker_threshold=10**9)  # breaker off: the budget alone

    for _ in range(1000):
        transport.send(REQUEST)

    assert inner.calls <= 1.2 * 1000


def test_circuit_opens_fails_fast_then_probes_and_closes() -> None:
    clock = Clock()
    inner = Scripted(REFUSED)
    transport = resilient(inner, clock, max_retries=0, breaker_threshold=3, breaker_cooldown=30)
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            transport.send(REQUEST)
    assert shared_state(transport) is CircuitState.OPEN

    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        transport.send(REQUEST)
    assert inner.calls == 3  # failed fast, nothing sent

    clock.now += 31
    assert shared_state(transport) is CircuitState.HALF_OPEN
    inner.outcomes = [answer(200)]
    assert transport.send(REQUEST).status == 200
    assert shared_state(transport) is CircuitState.CLOSED


def test_a_failed_probe_reopens_the_circuit() -> None:
    clock = Clock()
    transport = resilient(Scripted(REFUSED), clock, max_retries=0, breaker_threshold=1)
    with pytest.raises(UpstreamUnavailable):
        transport.send(REQUEST)
    clock.now += 31

    with pytest.raises(UpstreamUnavailable):
        transport.send(REQUEST)  # the probe fails

    assert shared_state(transport) is CircuitState.OPEN


def test_a_call_waiting_too_long_for_a_slot_is_refused_busy() -> None:
    release = threading.Event()
    entered = threading.Event()

    def blocking() -> UpstreamResponse:
        entered.set()
        release.wait(5)
        return UpstreamResponse(200, {}, b"", 0.0)

    shared = Resilience(ResiliencePolicy(max_concurrent=1, queue_timeout=0.05))
    transport = ResilientTransport(Scripted(blocking), shared)
    worker = threading.Thread(target=transport.send, args=(REQUEST,))
    worker.start()
    entered.wait(5)
    try:
        with pytest.raises(UpstreamBusy) as busy:
            transport.send(REQUEST)
        assert busy.value.retry_after >= 1
    finally:
        release.set()
        worker.join(5)


def shared_state(transport: ResilientTransport) -> CircuitState:
    return transport.resilience.breaker.state
