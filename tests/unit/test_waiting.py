"""The harness's one wait: a condition polled up to a deadline, never a fixed sleep."""

from __future__ import annotations

import itertools
import time

import pytest

from testbed.waiting import WaitTimeout, wait_until


def test_the_first_truthy_value_is_returned_as_soon_as_it_comes() -> None:
    calls = itertools.count(1)

    found = wait_until(lambda: (n := next(calls)) >= 3 and n, 10, "the third call")

    assert found == 3


def test_a_condition_never_met_fails_at_its_deadline_saying_what_it_waited_for() -> None:
    last = {"state": "queued"}
    started = time.monotonic()

    with pytest.raises(WaitTimeout, match=r"not within 0.2 s: job state queued"):
        wait_until(lambda: None, 0.2, lambda: f"job state {last['state']}", interval=0.05)

    assert 0.2 <= time.monotonic() - started < 5


def test_a_condition_met_at_the_deadline_still_passes() -> None:
    deadline = time.monotonic() + 0.1

    assert wait_until(lambda: time.monotonic() >= deadline, 0.1, "late", interval=1.0)


def test_a_timeout_is_an_assertion_failure_of_the_test() -> None:
    assert issubclass(WaitTimeout, AssertionError)
