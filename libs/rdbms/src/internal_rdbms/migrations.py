"""Alembic migrations on the library's async engine, safe when several processes start at once.

``env.py`` of a service (``alembic init migrations``, then replace its ``env.py``)::

    from internal_rdbms.migrations import run_migrations
    from app.models import Base

    run_migrations(Base.metadata)

The ``alembic`` command line then works as usual, and so does the programmatic API::

    from internal_rdbms.migrations import check, current, upgrade

    await upgrade("migrations")                # URL from COMMONS_RDBMS_URL (or url=...)
    assert await current("migrations") == ("0004",)
    await check("migrations")                  # RdbmsSchemaDriftError when models and database differ
"""

from __future__ import annotations

from internal_rdbms._migration_commands import MigrationConfig, check, current, downgrade, upgrade
from internal_rdbms._migrations import (
    DEFAULT_LOCK_TIMEOUT,
    URL_ATTRIBUTE,
    RdbmsMigrationError,
    RdbmsSchemaDriftError,
    migration_lock,
    run_migrations,
)

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "MigrationConfig",
    "RdbmsMigrationError",
    "RdbmsSchemaDriftError",
    "URL_ATTRIBUTE",
    "check",
    "current",
    "downgrade",
    "migration_lock",
    "run_migrations",
    "upgrade",
]
