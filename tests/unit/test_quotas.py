"""Per-application rate (token bucket) and concurrency limits."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.admission.quotas import QuotaGate
from gateway.exceptions import ConcurrencyExceeded, RateLimited


@dataclass(frozen=True)
class App:
    name: str = "lab"
    rate_per_second: float = 2.0
    burst: int = 3
    max_concurrent: int = 2


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    clock = Clock()
    gate = QuotaGate(clock=clock)
    for _ in range(3):
        with gate.admit(App()):
            pass
    with pytest.raises(RateLimited) as refused, gate.admit(App()):
        pass
    assert refused.value.retry_after >= 1
    clock.now += 0.5  # 2/s: one token back
    with gate.admit(App()):
        pass


def test_concurrency_cap_and_release() -> None:
    gate = QuotaGate(clock=Clock())
    app = App(burst=10)
    with gate.admit(app), gate.admit(app), pytest.raises(ConcurrencyExceeded), gate.admit(app):
        pass
    with gate.admit(app):  # both slots released
        pass


def test_apps_do_not_share_quotas() -> None:
    gate = QuotaGate(clock=Clock())
    for _ in range(3):
        with gate.admit(App(name="lab")):
            pass
    with gate.admit(App(name="radiology")):
        pass
