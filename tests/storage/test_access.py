"""Application keys through the Gatekeeper: on a real registry (both backends); its key cache
on a clock given to it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest

from gateway.admission.gatekeeper import APP_CACHE_SECONDS, Gatekeeper
from gateway.exceptions import AuthenticationFailed, OperationForbidden
from gateway.models import CertificateMode
from gateway.storage.apps import App, AppRegistry
from gateway.storage.database import Database


def _registry_with_app(database: Database) -> tuple[AppRegistry, str]:
    registry = AppRegistry(database)
    _, key = registry.add(
        "lab",
        operations=frozenset({"verify"}),
        rate_per_second=10,
        burst=10,
        max_concurrent=2,
        cert_mode=CertificateMode.AUTO,
    )
    return registry, key


def test_identify_and_admit(database: Database) -> None:
    registry, key = _registry_with_app(database)
    gate = Gatekeeper(registry)

    app = gate.identify(key)

    assert (app.name, app.cert_mode) == ("lab", CertificateMode.AUTO)
    with gate.admit(app, "verify"):
        pass
    with pytest.raises(OperationForbidden), gate.admit(app, "search"):
        pass
    for wrong in ("", "igw_nope", key + "x"):
        with pytest.raises(AuthenticationFailed):
            gate.identify(wrong)


def test_revocation_takes_effect_within_the_cache_time(database: Database) -> None:
    registry, key = _registry_with_app(database)
    now = [100.0]
    gate = Gatekeeper(registry, clock=lambda: now[0])
    gate.identify(key)

    registry.revoke("lab")
    gate.identify(key)  # still cached
    now[0] += APP_CACHE_SECONDS + 0.1

    with pytest.raises(AuthenticationFailed):
        gate.identify(key)


class _CountingRegistry:
    """Answers every key with one app and counts the lookups (the database reads)."""

    def __init__(self) -> None:
        self.lookups = 0
        self.app = App(
            name="lab",
            operations=frozenset({"verify"}),
            rate_per_second=10,
            burst=10,
            max_concurrent=2,
            cert_mode=CertificateMode.AUTO,
            revoked=False,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )

    def authenticate(self, key: str) -> App:
        self.lookups += 1
        return self.app


def test_the_key_cache_runs_on_the_clock_the_gatekeeper_is_given() -> None:
    registry, now = _CountingRegistry(), [1000.0]
    gate = Gatekeeper(cast(AppRegistry, registry), clock=lambda: now[0])

    assert gate.identify("igw_key") is registry.app
    now[0] += APP_CACHE_SECONDS / 2
    gate.identify("igw_key")
    assert registry.lookups == 1  # cached: the clock has not reached the cache time

    now[0] += APP_CACHE_SECONDS / 2
    gate.identify("igw_key")
    assert registry.lookups == 2  # the cache time is up on the injected clock
