"""Identity vigilance: ``vigilance_events``, ``reviewers`` and ``reviewer_sessions``.

Revision ID: 0007
Revises: 0006

Frozen: it spells out the columns instead of importing ``gateway.vigilance.tables``.
An event holds trait names and the keyed hash of the INS, never a trait's value.
``message_id`` is unique: a batch row whose answer is recorded twice (a retried
write) leaves one event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vigilance_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("time", _TIME, nullable=False),
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
        sa.Column("state_at", _TIME, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'acknowledged', 'resolved')", name="ck_vigilance_events_state"
        ),
    )
    for column in ("time", "state", "app", "ins_hash", "patient_ref"):
        op.create_index(f"ix_vigilance_events_{column}", "vigilance_events", [column])
    op.create_index(
        "ux_vigilance_events_message_id", "vigilance_events", ["message_id"], unique=True
    )
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("password_set_at", _TIME, nullable=False),
        sa.Column("revoked_at", _TIME, nullable=True),
    )
    op.create_table(
        "reviewer_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("reviewer", sa.String(63), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
    )
    op.create_index("ix_reviewer_sessions_reviewer", "reviewer_sessions", ["reviewer"])


def downgrade() -> None:
    op.drop_table("reviewer_sessions")
    op.drop_table("reviewers")
    op.drop_table("vigilance_events")
