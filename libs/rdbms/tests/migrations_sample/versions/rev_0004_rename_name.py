"""Rename name to title (batch mode: SQLite rebuilds the table, the others ALTER it).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mig_items") as batch:
        batch.alter_column(
            "name", new_column_name="title", existing_type=sa.String(100), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mig_items") as batch:
        batch.alter_column(
            "title", new_column_name="name", existing_type=sa.String(100), existing_nullable=False
        )
