"""Write-ahead journal, aggregated refusals and purges: four optional audit columns.

Revision ID: 0004
Revises: 0003

Frozen. ``client`` and ``count`` hold an aggregated unauthenticated refusal
(its client address, how many refusals); ``ref_seq``/``ref_hash`` point at
another record: the intent an outcome completes, or the last record a purge
removed. All nullable: the hash rule leaves them out when unset, so records
written before this revision keep their hash. ``message_id`` gets an index:
an intent and its outcome are found by it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("client", sa.Text, nullable=True))
        batch.add_column(sa.Column("count", sa.Integer, nullable=True))
        batch.add_column(sa.Column("ref_seq", _SEQ, nullable=True))
        batch.add_column(sa.Column("ref_hash", sa.String(64), nullable=True))
    op.create_index("ix_audit_records_message_id", "audit_records", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_records_message_id", "audit_records")
    with op.batch_alter_table("audit_records") as batch:
        for name in ("ref_hash", "ref_seq", "count", "client"):
            batch.drop_column(name)
