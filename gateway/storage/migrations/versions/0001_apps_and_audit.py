"""Apps registry and the hash-chained audit journal.

Revision ID: 0001
Revises: (none)

Frozen: it spells out the columns instead of importing ``schema.py``, so that
later changes to the current schema never rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("operations", sa.Text, nullable=False),
        sa.Column("rate_per_second", sa.Float, nullable=False),
        sa.Column("burst", sa.Integer, nullable=False),
        sa.Column("max_concurrent", sa.Integer, nullable=False),
        sa.Column("cert_mode", sa.String(16), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("cert_mode IN ('INSI-MANU', 'INSI-AUTO')", name="ck_apps_cert_mode"),
    )
    op.create_table(
        "audit_records",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=True),
        sa.Column("app", sa.String(63), nullable=True),
        sa.Column("user_id", sa.Text, nullable=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("cert_mode", sa.String(16), nullable=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("matricule_hashes", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_records_time", "audit_records", ["time"])
    op.create_index("ix_audit_records_app", "audit_records", ["app"])
    op.create_index("ix_audit_records_user_id", "audit_records", ["user_id"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_seq", _SEQ, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": _GENESIS_HASH}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_records_user_id", table_name="audit_records")
    op.drop_index("ix_audit_records_app", table_name="audit_records")
    op.drop_index("ix_audit_records_time", table_name="audit_records")
    op.drop_table("audit_records")
    op.drop_table("apps")
