"""The models the sample migrations end at (loaded by env.py and by the tests)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from internal_rdbms.base import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

items = Table(
    "mig_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(100), nullable=False),
    Column("status", String(20), nullable=False, server_default="new"),
    Index("ix_mig_items_status", "status"),
)
