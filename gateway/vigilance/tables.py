"""The vigilance tables (current shape); migration 0007 is the history that produces them.

``vigilance_events`` holds no identity trait: trait *names*, the keyed hash of the
INS (the audit journal's pseudonym, so events of one patient group together), the
application's own patient reference. ``reviewers`` holds argon2 hashes only, and
``reviewer_sessions`` the SHA-256 of each session token (a copy of the database
opens no session).
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

from gateway.storage.schema import UtcDateTime

STATES: Final = ("open", "acknowledged", "resolved")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

vigilance_metadata: Final = sa.MetaData()
events: Final = sa.Table(
    "vigilance_events",
    vigilance_metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("time", UtcDateTime, nullable=False),
    sa.Column("app", sa.String(63), nullable=False),
    sa.Column("user_id", sa.Text, nullable=True),
    sa.Column("patient_ref", sa.Text, nullable=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("traits", sa.Text, nullable=False),
    sa.Column("unchecked", sa.Text, nullable=False),
    sa.Column("ins_hash", sa.String(64), nullable=True),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=True),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("state_by", sa.Text, nullable=True),
    sa.Column("state_at", UtcDateTime, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
)
reviewers: Final = sa.Table(
    "reviewers",
    vigilance_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("password_set_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)
sessions: Final = sa.Table(
    "reviewer_sessions",
    vigilance_metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("reviewer", sa.String(63), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)
