"""Durable batch jobs: ``jobs``, their ``job_rows``, and the global ``job_rate`` slot.

Revision ID: 0002
Revises: 0001

Frozen: it spells out the columns instead of importing ``gateway.storage.jobs``.
Times the runner computes with (``lease_until``, ``next_slot``) are epoch
seconds (``Float``): a lease is compared and advanced arithmetically in SQL on
both backends. ``job_rate`` holds one row: the next free upstream call slot,
shared by every job and every replica.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("app", sa.String(63), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'cancelled')", name="ck_jobs_state"
        ),
    )
    op.create_index("ix_jobs_app", "jobs", ["app"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_table(
        "job_rows",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(36),
            sa.ForeignKey("jobs.id", ondelete="CASCADE", name="fk_job_rows_job"),
            nullable=False,
        ),
        sa.Column("row_no", sa.Integer, nullable=False),
        sa.Column("local_id", sa.Text, nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("payload", sa.Text, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.Text, nullable=True),
        sa.Column("claims", sa.Integer, nullable=False),
        sa.Column("attempt_message_ids", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.UniqueConstraint("job_id", "row_no", name="uq_job_rows_job_row"),
        sa.CheckConstraint(
            "state IN ('pending', 'claimed', 'done', 'cancelled')", name="ck_job_rows_state"
        ),
    )
    op.create_index("ix_job_rows_claimable", "job_rows", ["state", "id"])
    op.create_index("ix_job_rows_job_state", "job_rows", ["job_id", "state"])
    rate = op.create_table(
        "job_rate",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("next_slot", sa.Float, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_job_rate_single_row"),
    )
    op.bulk_insert(rate, [{"id": 1, "next_slot": 0.0}])


def downgrade() -> None:
    op.drop_table("job_rate")
    op.drop_index("ix_job_rows_job_state", table_name="job_rows")
    op.drop_index("ix_job_rows_claimable", table_name="job_rows")
    op.drop_table("job_rows")
    op.drop_index("ix_jobs_created_at", table_name="jobs")
    op.drop_index("ix_jobs_app", table_name="jobs")
    op.drop_table("jobs")
