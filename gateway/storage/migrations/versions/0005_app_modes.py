"""Applications' authentication modes: ``apps.modes`` (``certificate``, ``cpx`` or both).

Revision ID: 0005
Revises: 0004

Existing applications keep what they could do before: certificate mode only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(
            sa.Column("modes", sa.Text(), nullable=False, server_default="certificate")
        )


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("modes")
