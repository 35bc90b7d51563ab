"""The identity status an answer gave, and the identity document type attested: ``audit_records``.

Revision ID: 0006
Revises: 0005

Both columns are nullable and enter a record's hash only when set
(:mod:`gateway.storage.chain`), so records written before keep their hash.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("identity_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("evidence", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("evidence")
        batch.drop_column("identity_status")
