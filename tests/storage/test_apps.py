"""The app registry: keys shown once and stored as digests, validation, revocation, rotation."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from gateway.exceptions import InvalidInput, UnknownApp
from gateway.models import CertificateMode
from gateway.storage import OPERATIONS, App, AppRegistry, Database
from gateway.storage.schema import apps

LIMITS: dict[str, Any] = {
    "operations": ["search", "verify"],
    "rate_per_second": 5.0,
    "burst": 10,
    "max_concurrent": 4,
    "cert_mode": CertificateMode.MANU,
}


@pytest.fixture
def registry(database: Database) -> AppRegistry:
    return AppRegistry(database)


def test_add_returns_the_app_and_a_fresh_key(registry: AppRegistry) -> None:
    app, key = registry.add("dpi-urgences", **LIMITS)
    assert app == App(
        name="dpi-urgences",
        operations=frozenset({"search", "verify"}),
        rate_per_second=5.0,
        burst=10,
        max_concurrent=4,
        cert_mode=CertificateMode.MANU,
        revoked=False,
        created_at=app.created_at,
    )
    assert app.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - app.created_at).total_seconds()) < 60
    assert key.startswith("igw_")
    assert len(key) >= 4 + 43
    assert registry.add("other", **LIMITS)[1] != key


def test_only_the_key_digest_is_stored(registry: AppRegistry, database: Database) -> None:
    _, key = registry.add("dpi", **LIMITS)
    with database.read() as conn:
        stored = " ".join(str(v) for row in conn.execute(select(apps)) for v in row)
    assert key not in stored
    assert key[4:] not in stored
    assert hashlib.sha256(key.encode()).hexdigest() in stored


def test_authenticate_finds_the_app_by_its_key(registry: AppRegistry) -> None:
    added, key = registry.add("dpi", **LIMITS)
    registry.add("labo", **LIMITS)
    assert registry.authenticate(key) == added


@pytest.mark.parametrize("key", ["", "igw_wrong", "x" * 10_000])
def test_authenticate_refuses_unknown_keys(registry: AppRegistry, key: str) -> None:
    registry.add("dpi", **LIMITS)
    assert registry.authenticate(key) is None


def test_a_name_is_registered_once(registry: AppRegistry) -> None:
    registry.add("dpi", **LIMITS)
    with pytest.raises(InvalidInput) as caught:
        registry.add("dpi", **LIMITS)
    assert (caught.value.field, caught.value.reason) == (
        "name",
        "an app with this name already exists",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "a"),
        ("name", "Dpi"),
        ("name", "-dpi"),
        ("name", "dpi urgences"),
        ("name", "d" * 64),
        ("operations", []),
        ("operations", ["search", "delete"]),
        ("operations", "search"),
        ("rate_per_second", 0),
        ("rate_per_second", -1.0),
        ("rate_per_second", math.nan),
        ("rate_per_second", math.inf),
        ("rate_per_second", True),
        ("burst", 0),
        ("burst", 1.5),
        ("max_concurrent", 0),
        ("cert_mode", "INSI-OTHER"),
    ],
)
def test_invalid_input_names_the_field(registry: AppRegistry, field: str, value: object) -> None:
    arguments: dict[str, Any] = {"name": "dpi", **LIMITS, field: value}
    with pytest.raises(InvalidInput) as caught:
        registry.add(**arguments)
    assert caught.value.field == field
    assert registry.list() == []


def test_every_operation_and_mode_round_trips(registry: AppRegistry) -> None:
    added, _ = registry.add(
        "batch", **{**LIMITS, "operations": sorted(OPERATIONS), "cert_mode": "INSI-AUTO"}
    )
    assert registry.get("batch") == added
    assert added.operations == OPERATIONS
    assert added.cert_mode is CertificateMode.AUTO


def test_unknown_names_raise_unknown_app(registry: AppRegistry) -> None:
    for call in (registry.get, registry.revoke, registry.rotate_key):
        with pytest.raises(UnknownApp) as caught:
            call("ghost")
        assert caught.value.name == "ghost"
        assert isinstance(caught.value, LookupError)


def test_list_gives_every_app_by_name(registry: AppRegistry) -> None:
    for name in ("labo", "dpi", "pharma"):
        registry.add(name, **LIMITS)
    registry.revoke("labo")
    assert [(a.name, a.revoked) for a in registry.list()] == [
        ("dpi", False),
        ("labo", True),
        ("pharma", False),
    ]


def test_a_revoked_app_is_still_found_but_flagged(
    registry: AppRegistry, database: Database
) -> None:
    _, key = registry.add("dpi", **LIMITS)
    assert registry.revoke("dpi").revoked
    found = registry.authenticate(key)
    assert found is not None
    assert found.revoked
    with database.read() as conn:
        first = conn.execute(text("SELECT revoked_at FROM apps")).scalar()
    registry.revoke("dpi")  # twice: the first date stays
    with database.read() as conn:
        assert conn.execute(text("SELECT revoked_at FROM apps")).scalar() == first


def test_rotation_retires_the_old_key_at_once(registry: AppRegistry, database: Database) -> None:
    _, old = registry.add("dpi", **LIMITS)
    new = registry.rotate_key("dpi")
    assert new != old
    assert new.startswith("igw_")
    assert registry.authenticate(old) is None
    found = registry.authenticate(new)
    assert found is not None
    assert found.name == "dpi"
    with database.read() as conn:
        assert conn.execute(text("SELECT key_rotated_at FROM apps")).scalar() is not None


def test_a_revoked_app_gets_no_new_key(registry: AppRegistry) -> None:
    _, key = registry.add("dpi", **LIMITS)
    registry.revoke("dpi")
    with pytest.raises(InvalidInput, match="revoked"):
        registry.rotate_key("dpi")
    found = registry.authenticate(key)
    assert found is not None
    assert found.revoked


def test_replicas_sharing_the_database_see_each_other(
    database: Database, database_url: str
) -> None:
    """A key created by one replica works on another, and a rotation retires it there too."""
    other = Database(database_url)
    try:
        first, second = AppRegistry(database), AppRegistry(other)
        _, key = first.add("dpi", **LIMITS)
        assert second.authenticate(key) is not None
        first.rotate_key("dpi")
        assert second.authenticate(key) is None
    finally:
        other.close()


def test_activity_sector_is_kept_per_app_and_absent_means_the_default(
    registry: AppRegistry,
) -> None:
    """The VIHF ``secteurActivite`` (docs/vihf.md): a TRE_R02 code per app, NULL = SA01."""
    registry.add("clinique", **LIMITS, activity_sector="SA04")
    registry.add("chu", **LIMITS)

    assert registry.get("clinique").activity_sector == "SA04"
    assert registry.get("chu").activity_sector is None


@pytest.mark.parametrize("sector", ["", "sa01", "SA1", "SA001", "01", 4])
def test_activity_sector_must_be_a_tre_r02_code(registry: AppRegistry, sector: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        registry.add("dpi", **LIMITS, activity_sector=sector)
    assert caught.value.field == "activity_sector"
