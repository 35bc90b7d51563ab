"""Retries, retry budget, circuit breaker and concurrency bound, over a scripted transport."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import pytest

from gateway.exceptions import UpstreamBusy, UpstreamTimeout, UpstreamUnavailable
from gateway.transport.breaker import BreakerPolicy, CircuitState
from gateway.transport.resilience import Resilience, ResiliencePolicy, ResilientTransport
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


def resilient(
    inner: Scripted,
    clock: Clock | None = None,
    breaker: BreakerPolicy | None = None,
    **policy: float,
) -> ResilientTransport:
    clock = clock or Clock()
    whole = ResiliencePolicy(breaker=breaker or BreakerPolicy(), **policy)  # type: ignore[arg-type]
    return ResilientTransport(inner, Resilience(whole, clock=clock, sleep=clock.sleep))


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
    transport = resilient(inner, breaker=BreakerPolicy(min_calls=10**9))  # the budget alone

    for _ in range(1000):
        transport.send(REQUEST)

    assert 1000 < inner.calls <= 1.2 * 1000  # some retries, within the budget


BREAKER = BreakerPolicy(window=10, min_calls=10, failure_rate=0.5, cooldown=30, probes=2)


def test_a_call_whose_retry_succeeded_counts_as_a_success() -> None:
    """Before: each 503 attempt was a consecutive failure; 5 of them opened the circuit."""
    clock = Clock()
    # every call fails its first attempt and succeeds on the retry: 50% of attempts fail
    inner = Scripted(*[answer(503), answer(200)] * 100)
    transport = resilient(inner, clock, BREAKER)

    statuses = [transport.send(REQUEST).status for _ in range(100)]

    assert statuses.count(200) >= 10  # the budget's reserve retries (and more) went through
    assert shared_state(transport) is CircuitState.CLOSED


def test_the_circuit_opens_on_the_failure_rate_once_the_window_holds_min_calls() -> None:
    clock = Clock()
    inner = Scripted(*[answer(200), answer(503)] * 4, answer(503))
    transport = resilient(inner, clock, BREAKER, max_retries=0)
    for _ in range(9):  # 5 failures of 9 calls: over the rate, but fewer than min_calls
        transport.send(REQUEST)
    assert shared_state(transport) is CircuitState.CLOSED

    transport.send(REQUEST)  # the 10th call: 6 of 10 failed

    assert shared_state(transport) is CircuitState.OPEN
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        transport.send(REQUEST)
    assert inner.calls == 10  # failed fast, nothing sent


def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    inner = Scripted(answer(503))
    transport = resilient(inner, clock, BREAKER, max_retries=0)
    for _ in range(9):
        transport.send(REQUEST)
    clock.now += 11  # the window slid past all nine

    inner.outcomes = [answer(200)]
    for _ in range(9):
        transport.send(REQUEST)
    inner.outcomes = [answer(503)]
    transport.send(REQUEST)  # 1 failure in the 10 calls of the window

    assert shared_state(transport) is CircuitState.CLOSED


def test_half_open_lets_the_probes_through_and_closes_after_they_succeed() -> None:
    clock = Clock()
    inner = Scripted(REFUSED)
    transport = resilient(inner, clock, BREAKER, max_retries=0)
    for _ in range(10):
        with pytest.raises(UpstreamUnavailable, match="refused"):  # sent, not the circuit
            transport.send(REQUEST)
    assert shared_state(transport) is CircuitState.OPEN
    clock.now += 31
    assert shared_state(transport) is CircuitState.HALF_OPEN

    breaker = transport.resilience.breaker
    probes = [breaker.acquire(), breaker.acquire()]  # the two probes are out...
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        breaker.acquire()  # ...so a third call fails fast
    breaker.record(probes[0], failed=False)
    assert shared_state(transport) is CircuitState.HALF_OPEN  # one success of two
    breaker.record(probes[1], failed=False)
    assert shared_state(transport) is CircuitState.CLOSED


def test_a_failed_probe_reopens_the_circuit() -> None:
    clock = Clock()
    transport = resilient(Scripted(REFUSED), clock, BREAKER, max_retries=0)
    for _ in range(10):
        with pytest.raises(UpstreamUnavailable, match="refused"):  # sent, not the circuit
            transport.send(REQUEST)
    clock.now += 31

    with pytest.raises(UpstreamUnavailable, match="refused"):
        transport.send(REQUEST)  # the probe is sent, and fails

    assert shared_state(transport) is CircuitState.OPEN


def test_retries_counted_are_retries_sent_when_the_circuit_opens_mid_call() -> None:
    """Before: the retry was counted, then the open circuit stopped it before it left."""
    clock = Clock()
    counted: list[int] = []
    whole = ResiliencePolicy(breaker=BreakerPolicy(min_calls=1, failure_rate=0.5))
    shared = Resilience(whole, clock=clock, sleep=clock.sleep, on_retry=lambda: counted.append(1))
    other = shared.breaker.acquire()  # another call in flight

    def other_fails_meanwhile() -> UpstreamResponse:
        shared.breaker.record(other, failed=True)  # min_calls=1: the circuit opens
        return UpstreamResponse(503, {}, b"", 0.0)

    inner = Scripted(other_fails_meanwhile, answer(200))

    response = ResilientTransport(inner, shared).send(REQUEST)

    assert response.status == 503  # its own answer, not a retry into an open circuit
    assert inner.calls == 1
    assert counted == []


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
