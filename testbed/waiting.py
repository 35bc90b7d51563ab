"""Waiting on a condition with a deadline: never a fixed sleep, never an endless poll."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline (an assertion: the test fails)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    *,
    interval: float = 0.05,
) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` s pass.

    ``what`` names the condition in the failure message (a callable: asked at the failure,
    to say the last state seen). The predicate is called once more at the deadline, so a
    slow machine that met the condition late still passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            value = predicate()
            if value:
                return value
            said = what() if callable(what) else what
            raise WaitTimeout(f"not within {timeout:g} s: {said}")
        time.sleep(min(interval, left))
