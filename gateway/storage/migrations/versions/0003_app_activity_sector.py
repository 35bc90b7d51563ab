"""Each application's VIHF ``secteurActivite`` (TRE_R02 code), NULL for the default.

Revision ID: 0003
Revises: 0002

Frozen: it spells out the column instead of importing ``schema.py``. Existing
applications keep NULL, i.e. the documented default (docs/vihf.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("activity_sector", sa.String(4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("activity_sector")
