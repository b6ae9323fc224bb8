"""Add a status column with a server default (existing rows get it).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mig_items", sa.Column("status", sa.String(20), nullable=False, server_default="new"))


def downgrade() -> None:
    with op.batch_alter_table("mig_items") as batch:
        batch.drop_column("status")
