"""Shared fixtures of the internal_rdbms tests: an in-memory SQLite database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from internal_base.health import HealthRegistry
from internal_rdbms import Base, Database, RdbmsSettings

pytest_plugins = ["internal_testing.plugin"]


@pytest.fixture()
def health_registry() -> HealthRegistry:
    """A private health registry without caching, so tests never touch the process-wide one."""
    return HealthRegistry(cache_ttl=0)


@pytest.fixture()
async def sqlite_db(health_registry: HealthRegistry) -> AsyncIterator[Database]:
    """An in-memory SQLite database with every table of ``Base.metadata`` created."""
    db = Database(RdbmsSettings(url="sqlite://"), health_registry=health_registry)
    await db.create_all(Base.metadata)
    yield db
    await db.aclose()
