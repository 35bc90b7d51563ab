"""The tables, as SQLAlchemy Core objects the queries are written against.

This is the *current* shape; the migrations in ``migrations/versions`` are
the history that produces it and stay frozen (they never import this
module). A test checks that a migrated database matches these tables.

Free-form values (request ids, user ids, outcomes) are ``Text``: a long
``X-Request-ID`` must never make a journal write fail on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

# The hash that stands before the first record of the journal.
GENESIS_HASH: Final = "0" * 64

# SQLite only gives ROWID semantics to a column typed exactly INTEGER.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends.

    SQLite has no timezone type and hands back naive datetimes; this type
    refuses naive input and puts UTC back on the way out, so the code above
    only ever sees aware values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware UTC datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata: Final = MetaData()

apps: Final = Table(
    "apps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("operations", Text, nullable=False),
    Column("rate_per_second", Float, nullable=False),
    Column("burst", Integer, nullable=False),
    Column("max_concurrent", Integer, nullable=False),
    Column("cert_mode", String(16), nullable=False),
    Column("modes", Text, nullable=False, server_default="certificate"),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("key_rotated_at", UtcDateTime, nullable=True),
    Column("activity_sector", String(4), nullable=True),  # VIHF secteurActivite; 0003
    CheckConstraint("cert_mode IN ('INSI-MANU', 'INSI-AUTO')", name="ck_apps_cert_mode"),
)

# ``seq`` is assigned from ``audit_head.last_seq + 1`` under the head lock, never
# by the database: the hash covers it, and the chain must have no gaps.
audit_records: Final = Table(
    "audit_records",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("request_id", Text, nullable=False),
    Column("message_id", Text, nullable=True),
    Column("app", String(63), nullable=True),
    Column("user_id", Text, nullable=True),
    Column("operation", String(32), nullable=False),
    Column("cert_mode", String(16), nullable=True),
    Column("outcome", Text, nullable=False),
    Column("latency_ms", Float, nullable=True),
    Column("matricule_hashes", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("client", Text, nullable=True),
    Column("count", Integer, nullable=True),
    Column("ref_seq", _SEQ, nullable=True),
    Column("ref_hash", String(64), nullable=True),
    Column("identity_status", String(16), nullable=True),  # 0006: the status an answer gave
    Column("evidence", String(8), nullable=True),  # 0006: the identity document type attested
    Index("ix_audit_records_time", "time"),
    Index("ix_audit_records_message_id", "message_id"),
    Index("ix_audit_records_app", "app"),
    Index("ix_audit_records_user_id", "user_id"),
)

# One row (id = 1): the last link of the chain. Appenders lock it (FOR UPDATE on
# PostgreSQL, BEGIN IMMEDIATE on SQLite), which is what orders concurrent appends.
audit_head: Final = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", _SEQ, nullable=False),
    Column("last_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="ck_audit_head_single_row"),
)
