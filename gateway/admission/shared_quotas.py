"""Quotas held across every worker of every replica, in Redis (``REDIS_URL``).

One Lua script per decision, so a check and its update are one atomic step
whatever the number of processes, and every process reads the same clock
(Redis ``TIME``), so replicas' clock skew does not matter:

- the request rate is a GCRA (the token bucket's equivalent with one stored
  number, the theoretical arrival time): ``burst`` requests at once, then
  ``rate`` per second;
- the concurrency cap is a sorted set of slots scored by their expiry; a slot
  is renewed while its request runs and removed when it ends, so a slot held
  by a process that dies (SIGKILL, OOM) expires after ``SLOT_LEASE_SECONDS``
  instead of leaking;
- the batch runner's global upstream rate takes its call slots the same way.

Redis unreachable or failing: fail closed. The request gets ``503
quota-unavailable`` (``QuotaUnavailable``, Retry-After 1) and no call is made;
a slot whose release fails expires by itself. Short socket timeouts keep a
dead Redis from holding request threads.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from gateway import logs
from gateway.admission.quotas import Quota
from gateway.exceptions import ConcurrencyExceeded, QuotaUnavailable, RateLimited

log = logging.getLogger("gateway.admission.quotas")

SLOT_LEASE_SECONDS = 15.0  # renewed every third of it while the request runs
SOCKET_TIMEOUT_SECONDS = 0.5
UNAVAILABLE = "shared quota store (REDIS_URL) unavailable: call refused, not made"

# KEYS: rate key, slots key. ARGV: interval (us), burst, max concurrent, slot id, lease (us).
# Returns {0, 0} admitted, {1, wait_us} over the rate, {2, 0} over the concurrency cap.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait > 0 then return {1, string.format('%.0f', wait)} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now))
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {2, 0} end
local lease = tonumber(ARGV[5])
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.ceil((new_tat - now) / 1000) + 1000)
redis.call('ZADD', KEYS[2], string.format('%.0f', now + lease), ARGV[4])
redis.call('PEXPIRE', KEYS[2], math.ceil(lease / 1000) + 1000)
return {0, 0}
"""

# KEYS: the slots keys of held slots. ARGV: lease (us), then one slot id per key.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', string.format('%.0f', now + lease), ARGV[i + 1])
  redis.call('PEXPIRE', key, math.ceil(lease / 1000) + 1000)
end
return #KEYS
"""

# KEYS: the next-slot key. ARGV: interval (us). Returns the wait (us) until the slot taken.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local after = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', after),
           'PX', math.ceil((after - now) / 1000) + 60000)
return string.format('%.0f', slot - now)
"""


def connect(url: str) -> redis.Redis:
    """A thread-safe client (connection pool) with short timeouts, built once per process."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


class RedisQuotaGate:
    """Admits or refuses a request of an application against counters shared in Redis."""

    def __init__(
        self, client: redis.Redis, prefix: str, *, lease_seconds: float = SLOT_LEASE_SECONDS
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._lease_us = f"{lease_seconds * 1e6:.0f}"
        self._renew_every = lease_seconds / 3
        self._admit = client.register_script(_ADMIT)
        self._renew = client.register_script(_RENEW)
        self._held: dict[str, str] = {}  # slot id -> its slots key, renewed while held
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    @contextmanager
    def admit(self, app: Quota) -> Iterator[None]:
        """Hold one of the application's slots, everywhere, for the duration of the request."""
        slots_key = f"{self._prefix}quota:{app.name}:slots"
        slot = uuid.uuid4().hex
        verdict, wait_us = self._decide(app, slots_key, slot)
        if verdict == 1:
            raise RateLimited(app.name, retry_after=max(1, math.ceil(wait_us / 1e6)))
        if verdict == 2:
            raise ConcurrencyExceeded(app.name, retry_after=1)
        self._hold(slot, slots_key)
        try:
            yield
        finally:
            self._release(slot, slots_key)

    def _decide(self, app: Quota, slots_key: str, slot: str) -> tuple[int, int]:
        keys = [f"{self._prefix}quota:{app.name}:rate", slots_key]
        interval_us = f"{1e6 / app.rate_per_second:.0f}"
        argv: list[str | int] = [interval_us, app.burst, app.max_concurrent, slot, self._lease_us]
        try:
            answer: Any = self._admit(keys=keys, args=argv)
        except redis.RedisError as error:
            logs.event(log, "quota store error", level=logging.ERROR, error=type(error).__name__)
            raise QuotaUnavailable(UNAVAILABLE) from None
        return int(answer[0]), int(answer[1])

    def _hold(self, slot: str, slots_key: str) -> None:
        with self._lock:
            self._held[slot] = slots_key
            if self._renewer is None:  # first use, after the fork: one thread per process
                self._renewer = threading.Thread(target=self._renew_forever, daemon=True)
                self._renewer.start()

    def _release(self, slot: str, slots_key: str) -> None:
        with self._lock:
            self._held.pop(slot, None)
        try:
            self._client.zrem(slots_key, slot)
        except redis.RedisError as error:  # the slot expires within its lease anyway
            logs.event(log, "quota slot release failed", level=logging.WARNING,
                       error=type(error).__name__)  # fmt: skip

    def _renew_forever(self) -> None:
        """Push the expiry of every slot this process holds, so only a dead process's expire."""
        while True:
            time.sleep(self._renew_every)
            with self._lock:
                held = list(self._held.items())
            if not held:
                continue
            try:
                args = [self._lease_us, *(slot for slot, _ in held)]
                self._renew(keys=[key for _, key in held], args=args)
            except redis.RedisError as error:
                logs.event(log, "quota slot renewal failed", level=logging.WARNING,
                           error=type(error).__name__)  # fmt: skip


class RedisRateSlots:
    """The batch runner's global upstream call slots, shared by every job, worker and replica."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._key = f"{prefix}jobs:next-slot"
        self._take = client.register_script(_TAKE_SLOT)

    def wait_seconds(self, rate: float) -> float:
        """Reserve the next slot at ``rate`` calls/s; how long to wait before using it."""
        try:
            wait_us = self._take(keys=[self._key], args=[f"{1e6 / rate:.0f}"])
        except redis.RedisError as error:
            logs.event(log, "quota store error", level=logging.ERROR, error=type(error).__name__)
            raise QuotaUnavailable(UNAVAILABLE) from None
        return int(wait_us) / 1e6
