"""Per-application quotas: a request rate (token bucket with burst) and a concurrency cap.

:class:`QuotaGate` keeps the counters in the process: exact for a single
worker process, the setup without ``REDIS_URL``. With several workers or
replicas each process would grant the whole quota, so ``REDIS_URL`` switches
to :class:`gateway.admission.shared_quotas.RedisQuotaGate`, the same promise held across
every process (``insi-gateway config check`` warns when it is missing).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from gateway.exceptions import ConcurrencyExceeded, RateLimited


class Quota(Protocol):
    """What the limiter needs to know of an application."""

    @property
    def name(self) -> str: ...
    @property
    def rate_per_second(self) -> float: ...
    @property
    def burst(self) -> int: ...
    @property
    def max_concurrent(self) -> int: ...


class Admission(Protocol):
    """Admits a request of an application or raises (429 RateLimited/ConcurrencyExceeded)."""

    def admit(self, app: Quota) -> AbstractContextManager[None]: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    in_flight: int = 0


@dataclass
class QuotaGate:
    """Admits or refuses a request of an application, thread-safe."""

    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def admit(self, app: Quota) -> Iterator[None]:
        """Hold one of the application's slots for the duration of the request."""
        with self._lock:
            bucket = self._refilled(app)
            if bucket.tokens < 1:
                wait = (1 - bucket.tokens) / app.rate_per_second
                raise RateLimited(app.name, retry_after=max(1, math.ceil(wait)))
            if bucket.in_flight >= app.max_concurrent:
                raise ConcurrencyExceeded(app.name, retry_after=1)
            bucket.tokens -= 1
            bucket.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                bucket.in_flight -= 1

    def _refilled(self, app: Quota) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(app.name)
        if bucket is None:
            bucket = self._buckets[app.name] = _Bucket(tokens=float(app.burst), stamp=now)
        bucket.tokens = min(app.burst, bucket.tokens + (now - bucket.stamp) * app.rate_per_second)
        bucket.stamp = now
        return bucket
