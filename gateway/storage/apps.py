"""The registry of hospital applications allowed to call the gateway, each with its own key.

A key is shown once, when it is created or rotated, and only its SHA-256 is
stored: a copy of the database does not let anyone call the gateway. Keys are
256 random bits, so a plain (unsalted, fast) digest is enough, and looking it
up by digest leaks nothing usable through timing.
"""

from __future__ import annotations

import builtins
import hashlib
import math
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.exceptions import InvalidInput, UnknownApp
from gateway.models import ACTIVITY_SECTOR, CertificateMode
from gateway.storage.database import Database
from gateway.storage.schema import apps

# What an app may be allowed to do; routes check ``operation in app.operations``.
# ``vigilance``: the identity-vigilance worklist (/v1/vigilance), for the cell's own tools.
OPERATIONS: Final = frozenset({"search", "search_vitale", "verify", "jobs", "vigilance"})
# How an app's calls authenticate upstream: the establishment certificate (INSI-MANU/AUTO
# + VIHF signed by the gateway) or a professional's card-signed assertion relayed (CPx).
MODES: Final = frozenset({"certificate", "cpx"})
KEY_PREFIX: Final = "igw_"
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{1,62}")
_MAX_KEY_LENGTH: Final = 256


@dataclass(frozen=True, slots=True)
class App:
    """A registered application and the limits that apply to it."""

    name: str
    operations: frozenset[str]
    rate_per_second: float
    burst: int
    max_concurrent: int
    cert_mode: CertificateMode
    revoked: bool
    created_at: datetime
    activity_sector: str | None = None
    """TRE_R02 code sent as the VIHF ``secteurActivite`` (None: the gateway's default)."""
    modes: frozenset[str] = frozenset({"certificate"})


class AppRegistry:
    """Create, authenticate, revoke apps and rotate their keys; shared by every replica."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self._db = db
        self._clock = clock or (lambda: datetime.now(UTC))

    def add(
        self,
        name: str,
        *,
        operations: Iterable[str],
        rate_per_second: float,
        burst: int,
        max_concurrent: int,
        cert_mode: CertificateMode | str,
        activity_sector: str | None = None,
        modes: Iterable[str] = ("certificate",),
    ) -> tuple[App, str]:
        """Register an app; returns it with its API key, in clear this one time only."""
        values: dict[str, Any] = {
            "name": _valid_name(name),
            "operations": ",".join(sorted(_valid_operations(operations))),
            "rate_per_second": _positive_float("rate_per_second", rate_per_second),
            "burst": _positive_int("burst", burst),
            "max_concurrent": _positive_int("max_concurrent", max_concurrent),
            "cert_mode": _valid_cert_mode(cert_mode).value,
            "activity_sector": _valid_activity_sector(activity_sector),
            "modes": ",".join(sorted(_valid_modes(modes))),
            "created_at": self._clock(),
        }
        key = _new_key()
        with self._db.transaction() as conn:
            if _row(conn, name) is not None:
                raise InvalidInput("name", "an app with this name already exists")
            try:
                conn.execute(insert(apps).values(key_sha256=_digest(key), **values))
            except IntegrityError:  # a concurrent add of the same name won the race
                raise InvalidInput("name", "an app with this name already exists") from None
            return _app(_existing(conn, name)), key

    def authenticate(self, key: str) -> App | None:
        """The app holding ``key`` (revoked ones too, ``revoked=True``), or None if unknown.

        Both an unknown and a revoked key mean 401 for the caller; the
        distinction is only for its logs.
        """
        if not key or len(key) > _MAX_KEY_LENGTH:
            return None
        with self._db.read() as conn:
            row = conn.execute(select(apps).where(apps.c.key_sha256 == _digest(key))).first()
        return None if row is None else _app(row)

    def get(self, name: str) -> App:
        with self._db.read() as conn:
            return _app(_existing(conn, name))

    def activity_sector(self, name: str) -> str | None:
        """The app's VIHF ``secteurActivite`` (None: the default, or no such app any more)."""
        with self._db.read() as conn:
            row = _row(conn, name)
        return None if row is None else row.activity_sector

    def list(self) -> builtins.list[App]:
        """Every app, revoked ones included, by name."""
        with self._db.read() as conn:
            return [_app(row) for row in conn.execute(select(apps).order_by(apps.c.name))]

    def revoke(self, name: str) -> App:
        """Stop accepting the app's key for good; revoking twice keeps the first date."""
        with self._db.transaction() as conn:
            _existing(conn, name)
            conn.execute(
                update(apps)
                .where(apps.c.name == name, apps.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
            return _app(_existing(conn, name))

    def rotate_key(self, name: str) -> str:
        """Replace the app's key; the old one stops working at the commit.

        A revoked app cannot be given a key: revocation is final, register a
        new app instead.
        """
        key = _new_key()
        with self._db.transaction() as conn:
            if _existing(conn, name).revoked_at is not None:
                raise InvalidInput("name", "the app is revoked: its key cannot be rotated")
            conn.execute(
                update(apps)
                .where(apps.c.name == name)
                .values(key_sha256=_digest(key), key_rotated_at=self._clock())
            )
        return key


def _row(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(apps).where(apps.c.name == name)).first()


def _existing(conn: Connection, name: str) -> Row[Any]:
    row = _row(conn, name)
    if row is None:
        raise UnknownApp(name)
    return row


def _app(row: Row[Any]) -> App:
    return App(
        name=row.name,
        operations=frozenset(op for op in row.operations.split(",") if op),
        rate_per_second=row.rate_per_second,
        burst=row.burst,
        max_concurrent=row.max_concurrent,
        cert_mode=CertificateMode(row.cert_mode),
        revoked=row.revoked_at is not None,
        created_at=row.created_at,
        activity_sector=row.activity_sector,
        modes=frozenset(mode for mode in row.modes.split(",") if mode),
    )


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _valid_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            "name", "2 to 63 characters: a-z, 0-9, '_' or '-', starting with a letter or digit"
        )
    return name


def _valid_operations(operations: Iterable[str]) -> frozenset[str]:
    if isinstance(operations, str):  # "search" would otherwise become {"s", "e", ...}
        raise InvalidInput("operations", "must be a list of operation names")
    chosen = frozenset(operations)
    if not chosen:
        raise InvalidInput("operations", "at least one operation is required")
    unknown = chosen - OPERATIONS
    if unknown:
        raise InvalidInput(
            "operations",
            f"unknown {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(OPERATIONS))})",
        )
    return chosen


def _valid_modes(modes: Iterable[str]) -> frozenset[str]:
    if isinstance(modes, str):
        raise InvalidInput("modes", "must be a list of mode names")
    chosen = frozenset(modes)
    if not chosen or chosen - MODES:
        raise InvalidInput("modes", f"one or more of: {', '.join(sorted(MODES))}")
    return chosen


def _positive_float(field: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, "must be a number")
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(field, "must be a finite number greater than zero")
    return float(value)


def _positive_int(field: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "must be an integer")
    if value < 1:
        raise InvalidInput(field, "must be at least 1")
    return value


def _valid_cert_mode(mode: CertificateMode | str) -> CertificateMode:
    try:
        return CertificateMode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in CertificateMode)
        raise InvalidInput("cert_mode", f"must be one of: {allowed}") from None


def _valid_activity_sector(sector: str | None) -> str | None:
    """A TRE_R02 SecteurActivite code (``SA01``..), or None for the gateway's default."""
    if sector is None:
        return None
    if not isinstance(sector, str) or not ACTIVITY_SECTOR.fullmatch(sector):
        raise InvalidInput(
            "activity_sector", "must be a TRE_R02 SecteurActivite code: SA and two digits (SA01)"
        )
    return sector
