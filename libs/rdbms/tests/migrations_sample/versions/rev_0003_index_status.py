"""Index the status column.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_mig_items_status"), "mig_items", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mig_items_status"), table_name="mig_items")
