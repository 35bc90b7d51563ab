"""The Gatekeeper's key cache runs on the clock it is given (no sleeping to test it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from gateway.access import APP_CACHE_SECONDS, Gatekeeper
from gateway.models import CertificateMode
from gateway.storage.apps import App, AppRegistry

APP = App(
    name="lab",
    operations=frozenset({"verify"}),
    rate_per_second=10,
    burst=10,
    max_concurrent=2,
    cert_mode=CertificateMode.AUTO,
    revoked=False,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


class CountingRegistry:
    """Answers every key with APP and counts the lookups (the database reads)."""

    def __init__(self) -> None:
        self.lookups = 0

    def authenticate(self, key: str) -> App:
        self.lookups += 1
        return APP


def test_a_key_is_looked_up_again_once_its_cache_time_has_passed_on_the_given_clock() -> None:
    registry, now = CountingRegistry(), [1000.0]
    gate = Gatekeeper(cast(AppRegistry, registry), clock=lambda: now[0])

    assert gate.identify("igw_key") is APP
    now[0] += APP_CACHE_SECONDS - 0.5
    gate.identify("igw_key")
    assert registry.lookups == 1  # cached: the clock has not reached the cache time

    now[0] += 0.5
    gate.identify("igw_key")
    assert registry.lookups == 2  # the cache time is up on the injected clock
