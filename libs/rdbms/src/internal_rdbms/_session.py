"""The :class:`Database`: async engine, session factory, transactions, health check and lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Final, Self, TypeVar

from pydantic import SecretStr
from sqlalchemy import Connection, MetaData, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from internal_base.cursor import CursorCodec
from internal_base.errors import CircuitOpenError
from internal_base.health import HealthRegistry, default_registry
from internal_rdbms._config import RdbmsSettings, check_replica_urls, normalize_url
from internal_rdbms._cursor import CURSOR_CODEC_KEY, MAX_CURSOR_LENGTH
from internal_rdbms._engines import build_engine, build_probe_engine, warn_about_churn
from internal_rdbms._errors import (
    RdbmsError,
    RdbmsTimeoutError,
    RdbmsUnavailableError,
    TransactionConflictError,
    translating_errors,
)
from internal_rdbms._instrumentation import register_engine, unregister_engine
from internal_rdbms._migrations import DEFAULT_LOCK_TIMEOUT, lock_engine, migration_lock
from internal_rdbms._read_only import READ_ONLY_KEY, ReadOnlySession
from internal_rdbms._replicas import Replica, ReplicaState, choose_replica, probe_replica

__all__ = ["Database", "transaction"]

_log = logging.getLogger("internal_rdbms")
R = TypeVar("R")

# What Database.run retries, and what counts toward its breaker (unavailable or timed out).
_RETRIED: Final = (RdbmsUnavailableError, TransactionConflictError)
_BREAKER_FAILURES: Final = (ConnectionError, TimeoutError)


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


_CREATE_ALL_LOCK: Final = "internal_rdbms.create_all"


def _pool_exhausted(exc: BaseException) -> bool:
    """Whether ``exc`` says every pooled connection stayed busy (the server itself answered fine)."""
    return isinstance(exc.__cause__, sa_exc.TimeoutError)


def _create_all_locked(connection: Connection, metadata: MetaData, lock_timeout: float) -> None:
    with migration_lock(connection, _CREATE_ALL_LOCK, lock_timeout), connection.begin():
        metadata.create_all(connection)


class Database:
    """An async engine with its session factory, built from :class:`RdbmsSettings`.

    The real :class:`~sqlalchemy.ext.asyncio.AsyncEngine` and
    :class:`~sqlalchemy.ext.asyncio.async_sessionmaker` stay reachable as :attr:`engine` and
    :attr:`session_factory`. A ``SELECT 1`` readiness check is registered under
    ``settings.health_check_name`` (unless ``settings.health_check`` is off) and removed by
    :meth:`aclose`; it runs on its own connection, never waiting behind requests for the pool.
    :meth:`run` retries a whole unit of work through the policy built from
    ``settings.resilience``; nothing else is retried.

    Read-only units of work (``session(read_only=True)``, ``transaction(read_only=True)``,
    ``run(..., read_only=True)``) go to a read replica when ``replica_urls`` names any and one is
    up and within ``replica_max_lag``, else to the primary; the server refuses their writes
    (:class:`RdbmsReadOnlyError`). Everything else goes to the primary. Each replica gets a
    non-critical health check ``<health_check_name>-replica-<i>``.

    Args:
        settings: Settings, a URL, or ``None`` to load :class:`RdbmsSettings` (init, env,
            the YAML file named by ``COMMONS_CONFIG_FILE``, .env, defaults).
        replica_urls: Read replica URLs; replace ``settings.replica_urls`` when given.
        health_registry: Where to register the checks (default: the process-wide registry).

    Raises:
        ValueError: A replica URL with an unknown scheme or another backend than the primary's.

    Example:
        >>> async with Database("sqlite://") as db:          # doctest: +SKIP
        ...     async with db.transaction() as session:
        ...         session.add(User(email="a@example.com"))
    """

    def __init__(
        self,
        settings: RdbmsSettings | str | None = None,
        *,
        replica_urls: Sequence[str] | None = None,
        health_registry: HealthRegistry | None = None,
    ) -> None:
        if settings is None:
            settings = RdbmsSettings.load()
        elif isinstance(settings, str):
            settings = RdbmsSettings.load(url=settings)
        if replica_urls is not None:
            if isinstance(replica_urls, str):
                raise TypeError("replica_urls must be a sequence of URLs, not one string")
            replicas = [SecretStr(normalize_url(url)) for url in replica_urls]
            check_replica_urls(settings.backend, replicas)
            settings = settings.model_copy(update={"replica_urls": replicas})
        self._settings = settings
        warn_about_churn(settings)
        self._engine = build_engine(settings, settings.url.get_secret_value())
        register_engine(self._engine)
        # In-memory SQLite is one connection: a second engine would be another, empty database.
        self._probe = (
            self._engine
            if settings.is_memory_sqlite
            else build_probe_engine(settings, settings.url.get_secret_value())
        )
        self._replicas: list[Replica] = []
        for index, url in enumerate(settings.replica_urls):
            engine = build_engine(settings, url.get_secret_value())
            register_engine(engine)
            probe = build_probe_engine(settings, url.get_secret_value())
            self._replicas.append(Replica(index, settings.redacted_replica_urls[index], engine, probe))
        self._turn = itertools.count()
        codec = CursorCodec(settings.cursor_secret, max_length=MAX_CURSOR_LENGTH)
        self._factory = async_sessionmaker(
            self._engine, expire_on_commit=settings.expire_on_commit, info={CURSOR_CODEC_KEY: codec}
        )
        self._read_only_factory = async_sessionmaker(
            self._engine,
            expire_on_commit=settings.expire_on_commit,
            sync_session_class=ReadOnlySession,
            info={CURSOR_CODEC_KEY: codec, READ_ONLY_KEY: True},
        )
        self._policy = settings.resilience.to_policy(
            settings.health_check_name, retry_on=_RETRIED, failure_on=_BREAKER_FAILURES
        )
        self._registry: HealthRegistry | None = None
        self._replica_checks: dict[str, Callable[[], Awaitable[dict[str, object]]]] = {}
        if settings.health_check:
            self._registry = health_registry if health_registry is not None else default_registry()
            self._registry.register(
                settings.health_check_name, self.health_check, timeout=settings.health_check_timeout
            )
            for replica in self._replicas:
                name = f"{settings.health_check_name}-replica-{replica.index}"
                self._replica_checks[name] = self._replica_check(replica)
                self._registry.register(
                    name,
                    self._replica_checks[name],
                    critical=False,
                    timeout=settings.health_check_timeout,
                )

    def __repr__(self) -> str:
        """``Database(url='postgresql+asyncpg://app:***@db/app')``: the password is masked."""
        if self._replicas:
            return f"Database(url={self._settings.redacted_url!r}, replicas={len(self._replicas)})"
        return f"Database(url={self._settings.redacted_url!r})"

    @property
    def settings(self) -> RdbmsSettings:
        """The settings this database was built from."""
        return self._settings

    @property
    def engine(self) -> AsyncEngine:
        """The underlying SQLAlchemy engine of the primary."""
        return self._engine

    @property
    def replica_engines(self) -> tuple[AsyncEngine, ...]:
        """The request engines of the read replicas, in ``replica_urls`` order."""
        return tuple(replica.engine for replica in self._replicas)

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        """The underlying session factory of the primary (``expire_on_commit`` from the settings)."""
        return self._factory

    @property
    def backend(self) -> str:
        """``"postgresql"``, ``"mysql"`` (also MariaDB) or ``"sqlite"``."""
        return self._settings.backend

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A new session, closed (uncommitted work rolled back) on exit; commit yourself.

        Args:
            read_only: Read from a replica when one is usable (else the primary), in read-only
                transactions: any write is refused with :class:`RdbmsReadOnlyError`.

        Raises:
            RdbmsError: SQLAlchemy/driver errors from the block, translated.
        """
        if not read_only:
            with translating_errors():
                async with self._factory() as session:
                    yield session
            return
        session, replica = await self._open_read_only()
        try:
            with translating_errors():
                async with session:
                    yield session
        except RdbmsUnavailableError as exc:
            if replica is not None and not _pool_exhausted(exc):
                replica.mark_down(exc)  # the next read-only work goes elsewhere (Database.run retries)
            raise

    async def _open_read_only(self) -> tuple[AsyncSession, Replica | None]:
        """A read-only session on a usable replica (connected, so a dead one is skipped) or the primary."""
        if self._replicas:
            settings = self._settings
            start = next(self._turn)
            while True:
                replica = await choose_replica(
                    self._replicas,
                    start,
                    max_lag=settings.replica_max_lag,
                    interval=settings.replica_check_interval,
                    timeout=settings.health_check_timeout,
                )
                if replica is None:
                    break
                session = self._read_only_factory(bind=replica.engine)
                try:
                    # Bounded: a replica that stopped answering since its last probe would hang the
                    # pre-ping (no driver timeout applies to it) and with it this unit of work.
                    async with asyncio.timeout(settings.health_check_timeout):
                        with translating_errors():
                            await session.connection()
                except (RdbmsUnavailableError, TimeoutError) as exc:
                    with contextlib.suppress(Exception):
                        await session.close()
                    if isinstance(exc, RdbmsUnavailableError) and _pool_exhausted(exc):
                        break  # busy, not down: this unit of work goes to the primary
                    replica.mark_down(
                        exc
                        if isinstance(exc, RdbmsError)
                        else f"no connection within {settings.health_check_timeout:g} s"
                    )
                    continue
                return session, replica
        return self._read_only_factory(), None

    @asynccontextmanager
    async def transaction(
        self, session: AsyncSession | None = None, *, read_only: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A unit of work: commit when the block succeeds, roll back when it raises.

        Args:
            session: Without it, a new session is opened and closed. With a session already in a
                transaction, the block becomes a SAVEPOINT (nested transaction).
            read_only: A read-only unit of work on a replica when one is usable (see
                :meth:`session`); not with ``session``.

        Raises:
            ValueError: Both ``session`` and ``read_only`` given.
            RdbmsReadOnlyError: The block wrote in a read-only unit of work.
            RdbmsError: SQLAlchemy/driver errors from the block or the commit, translated.
        """
        if session is not None:
            if read_only:
                raise ValueError("read_only applies to a new session; a given session keeps its own mode")
            async with transaction(session) as active:
                yield active
            return
        if not read_only:
            async with self.session() as new, transaction(new) as active:
                yield active
            return
        async with self.session(read_only=True) as new:
            with translating_errors():
                try:
                    yield new
                except BaseException:
                    await new.rollback()
                    raise
                await new.commit()

    async def run(self, work: Callable[[AsyncSession], Awaitable[R]], *, read_only: bool = False) -> R:
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

        Args:
            work: The unit of work.
            read_only: Run it as a read-only unit of work (a replica when usable; a retry after a
                replica failed goes to another replica or the primary).

        Raises:
            RdbmsUnavailableError: Still unavailable after the retries, or the breaker is open
                (``retry_after``: seconds until it lets a call through).
            TransactionConflictError: Still conflicting after the retries.
            RdbmsTimeoutError: An attempt overran ``resilience.timeout``.
            RdbmsError: Any other error of ``work`` or the commit, translated.
        """

        async def attempt() -> R:
            async with self.transaction(read_only=read_only) as session:
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
        """Run ``SELECT 1`` on the primary, on the health probe's own connection (not the pool).

        Bounded by ``health_check_timeout``: a server that accepts but never answers fails the
        ping instead of hanging it (its connection is discarded, the next ping opens a new one).

        Raises:
            RdbmsUnavailableError: The database cannot be reached, or did not answer in time.
        """
        timeout = self._settings.health_check_timeout
        try:
            async with asyncio.timeout(timeout):
                with translating_errors():
                    async with self._probe.connect() as connection:
                        await connection.execute(text("SELECT 1"))
        except TimeoutError as exc:
            if isinstance(exc, RdbmsError):
                raise
            raise RdbmsUnavailableError(
                f"database {self._settings.redacted_url} did not answer SELECT 1 within {timeout:g} s"
            ) from exc

    async def health_check(self) -> dict[str, object]:
        """The registered readiness check: ``SELECT 1`` plus pool and replica details.

        The probe has its own connection: a saturated request pool does not fail readiness.
        Replicas are listed as last probed; their own checks probe them.

        Raises:
            RdbmsUnavailableError: The primary cannot be reached.
        """
        await self.ping()
        pool = self._engine.pool
        details: dict[str, object] = {"backend": self.backend, "pool": type(pool).__name__}
        for name in ("size", "checkedout", "overflow"):
            method = getattr(pool, name, None)
            if callable(method):
                details[name] = method()
        if self._replicas:
            details["replicas"] = [replica.details() for replica in self._replicas]
        return details

    def _replica_check(self, replica: Replica) -> Callable[[], Awaitable[dict[str, object]]]:
        settings = self._settings

        async def check() -> dict[str, object]:
            await probe_replica(
                replica, max_lag=settings.replica_max_lag, timeout=settings.health_check_timeout
            )
            if replica.state != ReplicaState.OK:
                limit = settings.replica_max_lag
                reason = replica.error or f"lag {replica.lag} s > replica_max_lag {limit} s"
                raise RdbmsUnavailableError(
                    f"read replica {replica.redacted_url} is {replica.state} (reads go elsewhere): {reason}"
                )
            return replica.details()

        return check

    async def replica_status(self) -> list[dict[str, object]]:
        """Probe every replica now and return its details (``url``, ``state``, ``lag_seconds``, ``error``)."""
        for replica in self._replicas:
            await probe_replica(
                replica,
                max_lag=self._settings.replica_max_lag,
                timeout=self._settings.health_check_timeout,
            )
        return [replica.details() for replica in self._replicas]

    async def create_all(self, metadata: MetaData, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        """Create the missing tables of ``metadata`` (tests, prototypes; use migrations in production).

        Safe when several processes start at once: the check-and-create runs under a lock held
        across processes (``pg_advisory_lock`` on PostgreSQL, ``GET_LOCK`` on MySQL/MariaDB,
        ``BEGIN IMMEDIATE`` on SQLite), so the later ones find the tables and create nothing.

        Args:
            metadata: The tables to create.
            lock_timeout: Seconds to wait for another process holding the lock.

        Raises:
            RdbmsMigrationError: Another process held the lock for ``lock_timeout`` seconds.
            RdbmsError: A DDL statement failed (translated).
        """
        if self._settings.is_memory_sqlite:  # one process, one connection: nothing to race with
            with translating_errors():
                async with self._engine.begin() as connection:
                    await connection.run_sync(metadata.create_all)
            return
        engine = lock_engine(self._settings, lock_timeout)
        register_engine(engine)
        try:
            with translating_errors():
                async with engine.connect() as connection:
                    await connection.run_sync(_create_all_locked, metadata, lock_timeout)
        finally:
            unregister_engine(engine)
            await engine.dispose()

    async def drop_all(self, metadata: MetaData) -> None:
        """Drop every table of ``metadata`` that exists."""
        with translating_errors():
            async with self._engine.begin() as connection:
                await connection.run_sync(metadata.drop_all)

    async def aclose(self) -> None:
        """Unregister the health checks and close every pooled connection (idempotent)."""
        if self._registry is not None:
            self._registry.unregister(self._settings.health_check_name, self.health_check)
            for name, check in self._replica_checks.items():
                self._registry.unregister(name, check)
            self._registry = None
        engines = [self._engine, self._probe]
        for replica in self._replicas:
            engines += [replica.engine, replica.probe_engine]
        for engine in engines:
            unregister_engine(engine)
            await engine.dispose()
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
