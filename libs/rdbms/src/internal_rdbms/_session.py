"""The :class:`Database`: async engine, session factory, transactions, health check and lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from sqlalchemy import MetaData, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from internal_base.cursor import CursorCodec
from internal_base.errors import CircuitOpenError
from internal_base.health import HealthRegistry, default_registry
from internal_rdbms._config import RdbmsSettings
from internal_rdbms._cursor import CURSOR_CODEC_KEY, MAX_CURSOR_LENGTH
from internal_rdbms._errors import (
    RdbmsError,
    RdbmsTimeoutError,
    RdbmsUnavailableError,
    TransactionConflictError,
    translating_errors,
)

__all__ = ["Database", "transaction"]

_log = logging.getLogger("internal_rdbms")
R = TypeVar("R")

# What Database.run retries, and what counts toward its breaker (unavailable or timed out).
_RETRIED: Final = (RdbmsUnavailableError, TransactionConflictError)
_BREAKER_FAILURES: Final = (ConnectionError, TimeoutError)


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


@asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run a block in a transaction of ``session``: commit on success, roll back on error.

    When ``session`` is already in a transaction, the block runs in a SAVEPOINT instead, so an
    error inside it undoes only the block (catch it outside to carry on with the outer work).

    Raises:
        RdbmsError: SQLAlchemy/driver errors from the block or the commit, translated.
    """
    with translating_errors():
        if session.in_transaction():
            async with session.begin_nested():
                yield session
        else:
            async with session.begin():
                yield session


class Database:
    """An async engine with its session factory, built from :class:`RdbmsSettings`.

    The real :class:`~sqlalchemy.ext.asyncio.AsyncEngine` and
    :class:`~sqlalchemy.ext.asyncio.async_sessionmaker` stay reachable as :attr:`engine` and
    :attr:`session_factory`. A ``SELECT 1`` readiness check is registered under
    ``settings.health_check_name`` (unless ``settings.health_check`` is off) and removed by
    :meth:`aclose`. :meth:`run` retries a whole unit of work through the policy built from
    ``settings.resilience``; nothing else is retried.

    Args:
        settings: Settings, a URL, or ``None`` to load :class:`RdbmsSettings` (init, env,
            the YAML file named by ``COMMONS_CONFIG_FILE``, .env, defaults).
        health_registry: Where to register the check (default: the process-wide registry).

    Example:
        >>> async with Database("sqlite://") as db:          # doctest: +SKIP
        ...     async with db.transaction() as session:
        ...         session.add(User(email="a@example.com"))
    """

    def __init__(
        self,
        settings: RdbmsSettings | str | None = None,
        *,
        health_registry: HealthRegistry | None = None,
    ) -> None:
        if settings is None:
            settings = RdbmsSettings.load()
        elif isinstance(settings, str):
            settings = RdbmsSettings.load(url=settings)
        self._settings = settings
        self._engine = create_async_engine(settings.url.get_secret_value(), **settings.engine_options())
        if settings.backend == "sqlite":
            event.listen(self._engine.sync_engine, "connect", _prepare_sqlite)
        elif settings.backend == "mysql":
            event.listen(self._engine.sync_engine, "connect", _install_strict_mode)
        codec = CursorCodec(settings.cursor_secret, max_length=MAX_CURSOR_LENGTH)
        self._factory = async_sessionmaker(
            self._engine, expire_on_commit=settings.expire_on_commit, info={CURSOR_CODEC_KEY: codec}
        )
        self._policy = settings.resilience.to_policy(
            settings.health_check_name, retry_on=_RETRIED, failure_on=_BREAKER_FAILURES
        )
        self._registry: HealthRegistry | None = None
        if settings.health_check:
            self._registry = health_registry if health_registry is not None else default_registry()
            self._registry.register(
                settings.health_check_name, self.health_check, timeout=settings.health_check_timeout
            )

    def __repr__(self) -> str:
        """``Database(url='postgresql+asyncpg://app:***@db/app')``: the password is masked."""
        return f"Database(url={self._settings.redacted_url!r})"

    @property
    def settings(self) -> RdbmsSettings:
        """The settings this database was built from."""
        return self._settings

    @property
    def engine(self) -> AsyncEngine:
        """The underlying SQLAlchemy engine."""
        return self._engine

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        """The underlying session factory (``expire_on_commit`` from the settings)."""
        return self._factory

    @property
    def backend(self) -> str:
        """``"postgresql"``, ``"mysql"`` (also MariaDB) or ``"sqlite"``."""
        return self._settings.backend

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A new session, closed (uncommitted work rolled back) on exit; commit yourself.

        Raises:
            RdbmsError: SQLAlchemy/driver errors from the block, translated.
        """
        with translating_errors():
            async with self._factory() as session:
                yield session

    @asynccontextmanager
    async def transaction(self, session: AsyncSession | None = None) -> AsyncIterator[AsyncSession]:
        """A unit of work: commit when the block succeeds, roll back when it raises.

        Args:
            session: Without it, a new session is opened and closed. With a session already in a
                transaction, the block becomes a SAVEPOINT (nested transaction).

        Raises:
            RdbmsError: SQLAlchemy/driver errors from the block or the commit, translated.
        """
        if session is not None:
            async with transaction(session) as active:
                yield active
            return
        async with self.session() as new, transaction(new) as active:
            yield active

    async def run(self, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
        """Run ``work(session)`` in a new transaction, retried as a whole per ``settings.resilience``.

        The only retries of this library: an attempt that fails with
        :class:`RdbmsUnavailableError` (cannot connect, connection lost, pool exhausted) or
        :class:`TransactionConflictError` (deadlock, lock wait timeout, serialization failure) is
        rolled back and ``work`` runs again in a fresh session, up to ``resilience.retry.attempts``
        calls within ``resilience.retry.total_timeout`` seconds, with backoff. Every other error,
        and an attempt overrunning ``resilience.timeout``, is raised at once. ``work`` must be safe to
        run again (a connection lost during COMMIT may leave an attempt committed). Each call counts
        once toward the breaker when it ends unavailable or timed out; while the breaker is open,
        calls fail at once.

        Raises:
            RdbmsUnavailableError: Still unavailable after the retries, or the breaker is open
                (``retry_after``: seconds until it lets a call through).
            TransactionConflictError: Still conflicting after the retries.
            RdbmsTimeoutError: An attempt overran ``resilience.timeout``.
            RdbmsError: Any other error of ``work`` or the commit, translated.
        """

        async def attempt() -> R:
            async with self.transaction() as session:
                return await work(session)

        try:
            return await self._policy.run(attempt)
        except CircuitOpenError as exc:
            raise RdbmsUnavailableError(f"database unavailable: {exc}", retry_after=exc.retry_after) from exc
        except TimeoutError as exc:
            if isinstance(exc, RdbmsError):
                raise
            raise RdbmsTimeoutError(f"database call {exc}") from exc

    async def ping(self) -> None:
        """Run ``SELECT 1``.

        Raises:
            RdbmsUnavailableError: The database cannot be reached.
        """
        with translating_errors():
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    async def health_check(self) -> dict[str, object]:
        """The registered readiness check: ``SELECT 1`` plus pool details (raises when unreachable)."""
        await self.ping()
        pool = self._engine.pool
        details: dict[str, object] = {"backend": self.backend, "pool": type(pool).__name__}
        for name in ("size", "checkedout", "overflow"):
            method = getattr(pool, name, None)
            if callable(method):
                details[name] = method()
        return details

    async def create_all(self, metadata: MetaData) -> None:
        """Create the missing tables of ``metadata`` (tests, prototypes; use migrations in production)."""
        with translating_errors():
            async with self._engine.begin() as connection:
                await connection.run_sync(metadata.create_all)

    async def drop_all(self, metadata: MetaData) -> None:
        """Drop every table of ``metadata`` that exists."""
        with translating_errors():
            async with self._engine.begin() as connection:
                await connection.run_sync(metadata.drop_all)

    async def aclose(self) -> None:
        """Unregister the health check and close every pooled connection (idempotent)."""
        if self._registry is not None:
            self._registry.unregister(self._settings.health_check_name, self.health_check)
            self._registry = None
        await self._engine.dispose()
        _log.debug("closed engine for %s", self._settings.redacted_url)

    async def __aenter__(self) -> Self:
        """Return the database itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the database (:meth:`aclose`)."""
        await self.aclose()
