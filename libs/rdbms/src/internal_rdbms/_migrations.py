"""Alembic on the library's async engine: the ``env.py`` entry point and the cross-process lock."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from pydantic import SecretStr
from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from internal_base.redaction import redact_text
from internal_rdbms._config import RdbmsSettings, normalize_url
from internal_rdbms._errors import RdbmsError

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "URL_ATTRIBUTE",
    "RdbmsMigrationError",
    "RdbmsSchemaDriftError",
    "lock_engine",
    "migration_lock",
    "run_migrations",
]

_log = logging.getLogger("internal_rdbms.migrations")

#: Seconds a process waits for another process's migration lock before giving up.
DEFAULT_LOCK_TIMEOUT: Final = 300.0
#: Key of ``Config.attributes`` holding the database URL of one programmatic run.
URL_ATTRIBUTE: Final = "internal_rdbms.url"
_LOCK_POLL_SECONDS: Final = 0.2
_SQLITE_POLL_MS: Final = 100
# Pool settings make no sense for the one NullPool connection a migration run opens.
_POOL_OPTIONS: Final = ("pool_size", "max_overflow", "pool_timeout", "pool_recycle")


class RdbmsMigrationError(RdbmsError):
    """A migration command failed (unknown revision, database not at head, lock not acquired, ...)."""


class RdbmsSchemaDriftError(RdbmsMigrationError):
    """The models and the migrated database differ: autogenerate would write a new migration.

    Attributes:
        differences: Alembic's diff tuples (``("add_column", None, "users", Column(...))``, ...).
    """

    def __init__(self, differences: Sequence[Any]) -> None:
        self.differences = list(differences)
        listed = "\n".join(f"  - {difference!r}" for difference in self.differences)
        super().__init__(
            f"models and migrations differ ({len(self.differences)} difference(s)); write a migration "
            f"(alembic revision --autogenerate):\n{redact_text(listed)}"
        )


def run_migrations(
    metadata: MetaData | Sequence[MetaData] | None,
    *,
    settings: RdbmsSettings | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    **configure_options: Any,
) -> None:
    """Run the current Alembic command on the library's async engine; call it from ``env.py``.

    The URL is, in order: ``alembic -x url=...``, the one given to the programmatic API, the
    ``sqlalchemy.url`` of the Alembic config, ``settings.url``, then :class:`RdbmsSettings` loaded as
    usual (``COMMONS_RDBMS_URL``, YAML, ...). Online runs hold a lock for their whole length, so
    processes starting together migrate one after the other: ``pg_advisory_lock`` on PostgreSQL,
    ``GET_LOCK`` on MySQL/MariaDB, ``BEGIN IMMEDIATE`` on SQLite (whose DDL is then transactional
    too). Works from inside a running event loop (the run gets its own loop in a worker thread).

    Args:
        metadata: The models' metadata (``Base.metadata``), for autogenerate and ``check``.
        settings: Settings to use when neither the command line nor the config names a URL.
        lock_timeout: Seconds to wait for another process's migration lock (SQLite: busy timeout).
        **configure_options: Extra keywords for ``context.configure`` (``include_object``, ...);
            they override the defaults ``compare_type=True`` and ``render_as_batch`` (on for SQLite).

    Raises:
        RdbmsMigrationError: In-memory SQLite URL, or the lock was not acquired in time.
    """
    from alembic import context

    if lock_timeout <= 0:
        raise ValueError(f"lock_timeout must be positive seconds, got {lock_timeout!r}")
    resolved = _resolve_settings(context.config, context.get_x_argument(as_dictionary=True), settings)
    sqlite = resolved.backend == "sqlite"
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "compare_type": True,
        "render_as_batch": sqlite,
        # SQLite's DDL is transactional once the driver stops committing around it (see _sqlite_engine).
        **({"transactional_ddl": True} if sqlite else {}),
        **configure_options,
    }
    if context.is_offline_mode():
        context.configure(
            url=resolved.url.get_secret_value(),
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    if resolved.is_memory_sqlite:
        raise RdbmsMigrationError(
            "an in-memory SQLite database forgets its schema when the migration run ends; use a file URL"
        )
    _run_in_own_loop(lambda: _run_online(resolved, options, lock_timeout))


def _resolve_settings(config: Any, x_args: dict[str, str], settings: RdbmsSettings | None) -> RdbmsSettings:
    url = (
        x_args.get("url") or config.attributes.get(URL_ATTRIBUTE) or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        return settings if settings is not None else RdbmsSettings.load()
    if settings is None:
        return RdbmsSettings.load(url=url)
    return settings.model_copy(update={"url": SecretStr(normalize_url(url))})


def _run_in_own_loop(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(factory())
        return
    # Alembic was called synchronously from async code: that loop is busy running us, so the
    # async engine gets a fresh loop in a worker thread (the caller's loop waits, as for any sync call).
    with ThreadPoolExecutor(1, thread_name_prefix="internal_rdbms-migrations") as pool:
        pool.submit(lambda: asyncio.run(factory())).result()


def lock_engine(settings: RdbmsSettings, lock_timeout: float) -> AsyncEngine:
    """A one-connection (``NullPool``) engine for schema changes under :func:`migration_lock`.

    On SQLite every transaction of it is ``BEGIN IMMEDIATE`` (the cross-process lock) with
    transactional DDL, waiting up to ``lock_timeout`` seconds for another writer.
    """
    options = {key: value for key, value in settings.engine_options().items() if key not in _POOL_OPTIONS}
    if settings.backend == "sqlite":
        options["connect_args"] = {**options.get("connect_args", {}), "timeout": lock_timeout}
    engine = create_async_engine(settings.url.get_secret_value(), poolclass=NullPool, **options)
    if settings.backend == "sqlite":
        # pysqlite commits before DDL and begins only before DML; take transactions over so a whole
        # run is one BEGIN IMMEDIATE: DDL rolls back on error, and a second process waits its turn.
        event.listen(engine.sync_engine, "connect", _sqlite_autocommit)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate(lock_timeout))
    return engine


def _sqlite_autocommit(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(lock_timeout: float) -> Callable[[Connection], None]:
    """``BEGIN IMMEDIATE`` retried for ``lock_timeout`` s with short busy waits between polls.

    One long busy wait would run in the driver's thread, where cancelling the caller cannot stop
    it: a cancelled ``create_all`` (a process shutting down) would hang for the whole timeout.
    """
    busy_ms = max(1, round(lock_timeout * 1000))

    def begin(connection: Connection) -> None:
        deadline = time.monotonic() + lock_timeout
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {_SQLITE_POLL_MS}")
        try:
            while True:
                try:
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    return
                except OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if time.monotonic() >= deadline:
                        raise RdbmsMigrationError(
                            f"another process held the migration lock for {lock_timeout:g} s"
                        ) from exc
                _pause(_LOCK_POLL_SECONDS / 2)
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")  # statements of the run

    return begin


async def _run_online(settings: RdbmsSettings, options: dict[str, Any], lock_timeout: float) -> None:
    engine = lock_engine(settings, lock_timeout)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_locked, options, lock_timeout)
    finally:
        await engine.dispose()


def _run_locked(connection: Connection, options: dict[str, Any], lock_timeout: float) -> None:
    from alembic import context

    version_table = (
        f"{options.get('version_table_schema') or ''}.{options.get('version_table') or 'alembic_version'}"
    )
    with migration_lock(connection, version_table, lock_timeout):
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


@contextlib.contextmanager
def migration_lock(connection: Connection, name: str, timeout: float) -> Iterator[None]:
    """Hold a server-side lock named after ``name`` (session level, outside any transaction).

    PostgreSQL: ``pg_try_advisory_lock`` polled until ``timeout``; MySQL/MariaDB: ``GET_LOCK``
    (server-wide, so the name includes the database); SQLite: nothing here, ``BEGIN IMMEDIATE`` of
    the run is the lock. The connection is left outside a transaction, as Alembic expects.

    Raises:
        RdbmsMigrationError: Another process held the lock for ``timeout`` seconds.
    """
    dialect = connection.dialect.name
    params: dict[str, Any]
    if dialect == "postgresql":
        key = _lock_key(name)
        _acquire_polling(connection, "SELECT pg_try_advisory_lock(:key)", {"key": key}, timeout)
        release, params = "SELECT pg_advisory_unlock(:key)", {"key": key}
    elif dialect in ("mysql", "mariadb"):
        database = connection.execute(text("SELECT DATABASE()")).scalar()
        lock_name = f"internal_rdbms.migrations.{_lock_key(f'{database}:{name}') & 0xFFFFFFFFFFFF:x}"
        got = connection.execute(
            text("SELECT GET_LOCK(:name, :timeout)"), {"name": lock_name, "timeout": math.ceil(timeout)}
        ).scalar()
        connection.commit()
        if got != 1:
            raise RdbmsMigrationError(f"another process held the migration lock for {timeout:g} s")
        release, params = "SELECT RELEASE_LOCK(:name)", {"name": lock_name}
    else:
        yield
        return
    try:
        yield
    finally:
        _release(connection, release, params)


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(f"internal_rdbms.migrations:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _acquire_polling(connection: Connection, statement: str, params: dict[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = connection.execute(text(statement), params).scalar()
        connection.commit()  # the session-level lock outlives the transaction
        if got:
            return
        if time.monotonic() >= deadline:
            raise RdbmsMigrationError(f"another process held the migration lock for {timeout:g} s")
        _pause(_LOCK_POLL_SECONDS)


def _pause(seconds: float) -> None:
    """Wait between two polls: on the event loop (not blocking it) when called from ``run_sync``."""
    if in_greenlet():
        await_only(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


def _release(connection: Connection, statement: str, params: dict[str, Any]) -> None:
    try:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text(statement), params)
        connection.commit()
    except SQLAlchemyError as exc:
        # The connection is closed right after; closing releases a session-level lock anyway.
        _log.warning("could not release the migration lock: %s", redact_text(str(exc)))
