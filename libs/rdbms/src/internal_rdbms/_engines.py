"""Engines of a :class:`Database`: per-backend connection setup, request pools and probe connections."""

from __future__ import annotations

import logging
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from internal_rdbms._config import RdbmsSettings
from internal_rdbms._read_only import install_read_only_support

__all__ = ["build_engine", "build_probe_engine", "warn_about_churn"]

_log = logging.getLogger("internal_rdbms")

# Python's str.lower applies context rules no server applies: a final capital sigma becomes "ς" and
# "İ" becomes "i" plus a combining dot. Those two letters are folded one code point at a time, by the
# first code point of their lower case, as PostgreSQL and MariaDB fold them (U+03C3, "i").
_CONTEXT_FOLDED: Final = frozenset("\u03a3\u0130")


def _lower(value: object) -> object:
    if value is None or isinstance(value, bytes):
        return value
    text = str(value)
    if _CONTEXT_FOLDED.isdisjoint(text):
        return text.lower()
    return "".join(char.lower()[0] for char in text)


def _prepare_sqlite(dbapi_connection: Any, _record: object) -> None:
    # SQLite's built-in lower() folds ASCII only; PostgreSQL's and MariaDB's fold every letter.
    # Replacing it per connection makes case-insensitive Search mean the same on every backend.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
    # SQLite ignores FOREIGN KEY clauses unless each connection asks: orphans no server accepts.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


# Without a strict mode MySQL/MariaDB truncate over-long strings and clamp out-of-range numbers on
# write, with only a warning: lost data. Added to whatever mode the server or init_command set.
_STRICT_MODE: Final = (
    "SET SESSION sql_mode = IF(@@SESSION.sql_mode = '', 'STRICT_ALL_TABLES', "
    "CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'))"
)


def _install_strict_mode(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(_STRICT_MODE)
    finally:
        cursor.close()


def _prepare(engine: AsyncEngine, backend: str) -> AsyncEngine:
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _prepare_sqlite)
    elif backend == "mysql":
        event.listen(engine.sync_engine, "connect", _install_strict_mode)
    install_read_only_support(engine.sync_engine)
    return engine


def build_engine(settings: RdbmsSettings, url: str) -> AsyncEngine:
    """A request engine for ``url`` (the primary's or a replica's) with the settings' pool."""
    return _prepare(create_async_engine(url, **settings.engine_options()), settings.backend)


def build_probe_engine(settings: RdbmsSettings, url: str) -> AsyncEngine:
    """A one-connection engine for health and lag probes, independent of the request pool.

    Its connection stays open between probes (no connect per probe, no churn); a broken one is
    replaced by the pre-ping. It waits ``health_check_timeout`` at most for that one connection.
    """
    options = settings.engine_options()
    options.update(pool_size=1, max_overflow=0, pool_timeout=settings.health_check_timeout, echo=False)
    return _prepare(create_async_engine(url, **options), settings.backend)


def warn_about_churn(settings: RdbmsSettings) -> None:
    """Log a warning when ``max_overflow`` > 0: overflow connections are closed on return (churn)."""
    if settings.max_overflow > 0 and not settings.is_memory_sqlite:
        _log.warning(
            "rdbms max_overflow=%d: under load the pool opens up to %d extra connections and closes "
            "each one when it is returned (connection churn); prefer pool_size=%d with max_overflow=0",
            settings.max_overflow,
            settings.max_overflow,
            settings.pool_size + settings.max_overflow,
        )
