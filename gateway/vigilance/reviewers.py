"""The people of the identity-vigilance cell: names, argon2 password hashes, sessions.

Reviewers are not applications: an application key never opens the page and a
reviewer's session never calls an INSi operation. Passwords are hashed with
argon2id (memory-hard: a copied database resists offline guessing); a session is
a random token in an ``HttpOnly`` cookie whose SHA-256 alone is stored, with its
own CSRF token. Sessions end at logout, after ``IDLE`` without use, after ``LIFETIME``
in any case, and when the reviewer is revoked or gets a new password.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.exceptions import InvalidInput
from gateway.storage.database import Database
from gateway.vigilance.tables import reviewers, sessions

IDLE: Final = timedelta(minutes=30)
LIFETIME: Final = timedelta(hours=10)
MIN_PASSWORD: Final = 12
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}")
_HASHER: Final = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile


@functools.cache
def _decoy() -> str:
    """Checked when the name is unknown, so that a wrong name costs what a wrong password costs
    (made on first use: a command that logs nobody in does not pay for it)."""
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Reviewer:
    name: str
    created_at: datetime
    revoked: bool


@dataclass(frozen=True, slots=True)
class Session:
    reviewer: str
    csrf: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """A generated password: 128 random bits, typed once into a password manager."""
    return secrets.token_urlsafe(16)


class ReviewerRegistry:
    """Add, list, revoke reviewers, reset passwords; log them in and keep their sessions."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self._db = db
        self._clock = clock or (lambda: datetime.now(UTC))

    def add(self, name: str, password: str | None = None) -> tuple[Reviewer, str]:
        """A new reviewer and the password (generated unless given): shown once, never stored."""
        if not _NAME.fullmatch(name):
            raise InvalidInput("name", "2 to 63 lower-case letters, digits, '.', '_' or '-'")
        password = _checked(password) if password is not None else new_password()
        now = self._clock()
        with self._db.transaction() as conn:
            taken = conn.execute(select(reviewers.c.id).where(reviewers.c.name == name)).first()
            if taken is not None:
                raise InvalidInput("name", f"a reviewer named {name!r} exists")
            try:
                conn.execute(
                    insert(reviewers).values(
                        name=name,
                        password_hash=_HASHER.hash(password),
                        created_at=now,
                        password_set_at=now,
                    )
                )
            except IntegrityError:  # a concurrent add of the same name won the race
                raise InvalidInput("name", f"a reviewer named {name!r} exists") from None
        return Reviewer(name, now, False), password

    def list(self) -> list[Reviewer]:
        with self._db.read() as conn:
            rows = conn.execute(select(reviewers).order_by(reviewers.c.name)).all()
        return [Reviewer(r.name, r.created_at, r.revoked_at is not None) for r in rows]

    def revoke(self, name: str) -> None:
        """No more logins; the reviewer's open sessions end now."""
        self._update(name, revoked_at=self._clock())

    def reset_password(self, name: str, password: str | None = None) -> str:
        """A new password (generated unless given); the reviewer's sessions end now."""
        password = _checked(password) if password is not None else new_password()
        self._update(name, password_hash=_HASHER.hash(password), password_set_at=self._clock())
        return password

    def _update(self, name: str, **values: object) -> None:
        with self._db.transaction() as conn:
            changed = conn.execute(
                update(reviewers).where(reviewers.c.name == name).values(**values)
            ).rowcount
            conn.execute(delete(sessions).where(sessions.c.reviewer == name))
        if not changed:
            raise InvalidInput("name", f"no reviewer named {name!r}")

    def authenticate(self, name: str, password: str) -> bool:
        """Whether ``name`` is an active reviewer with this password (constant work either way)."""
        with self._db.read() as conn:
            row = conn.execute(select(reviewers).where(reviewers.c.name == name)).first()
        stored = row.password_hash if row is not None else _decoy()
        try:
            matches = bool(_HASHER.verify(stored, password))
        except (VerificationError, InvalidHashError):
            matches = False
        return matches and row is not None and row.revoked_at is None

    def exists(self, name: str) -> bool:
        with self._db.read() as conn:
            return (
                conn.execute(select(reviewers.c.id).where(reviewers.c.name == name)).first()
                is not None
            )

    def open_session(self, name: str) -> tuple[str, Session]:
        """A new session for ``name``: the cookie's token (in clear, once) and its CSRF token."""
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock()
        with self._db.transaction() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))  # tidy as we go
            conn.execute(
                insert(sessions).values(
                    token_sha256=_digest(token),
                    reviewer=name,
                    csrf=csrf,
                    created_at=now,
                    expires_at=now + IDLE,
                )
            )
        return token, Session(name, csrf, now + IDLE)

    def session(self, token: str) -> Session | None:
        """The live session of ``token``, its idle deadline moved on; None when it ended."""
        if not token:
            return None
        now = self._clock()
        with self._db.transaction() as conn:
            row = conn.execute(
                select(sessions).where(sessions.c.token_sha256 == _digest(token))
            ).first()
            if row is None or row.expires_at <= now:
                return None
            expires = min(now + IDLE, row.created_at + LIFETIME)
            conn.execute(
                update(sessions)
                .where(sessions.c.token_sha256 == row.token_sha256)
                .values(expires_at=expires)
            )
        return Session(row.reviewer, row.csrf, expires)

    def close_session(self, token: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_sha256 == _digest(token)))


def _checked(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"at least {MIN_PASSWORD} characters")
    return password
