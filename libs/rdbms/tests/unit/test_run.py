"""``Database.run``: the one retried call, driven by ``RdbmsSettings.resilience``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from internal_base.errors import CircuitOpenError
from internal_base.resilience import testing
from internal_rdbms import (
    Database,
    QueryError,
    RdbmsConflictError,
    RdbmsSettings,
    RdbmsTimeoutError,
    RdbmsUnavailableError,
    TransactionConflictError,
)


def _settings(**resilience: Any) -> RdbmsSettings:
    return RdbmsSettings(url="sqlite://", health_check=False, resilience=resilience)


@pytest.fixture()
async def make_db() -> AsyncIterator[Callable[..., Database]]:
    """Build in-memory databases with the given resilience section; close them afterwards."""
    built: list[Database] = []

    def make(**resilience: Any) -> Database:
        built.append(Database(_settings(**resilience)))
        return built[-1]

    yield make
    for db in built:
        await db.aclose()


def _failing(error: Exception, failures: int, calls: list[int]) -> Callable[[AsyncSession], Awaitable[str]]:
    async def work(session: AsyncSession) -> str:
        calls.append(1)
        await session.execute(text("SELECT 1"))
        if len(calls) <= failures:
            raise error
        return "done"

    return work


@pytest.mark.parametrize(
    "error",
    [
        RdbmsUnavailableError("database unavailable: flaky"),
        TransactionConflictError("transaction conflict: deadlock detected"),
    ],
)
async def test_run_retries_unavailable_and_transaction_conflicts(
    make_db: Callable[..., Database], error: Exception
) -> None:
    """An unavailable database or a lost transaction race reruns the whole work, up to retry.attempts."""
    db = make_db(retry={"attempts": 3})
    calls: list[int] = []
    with testing() as waits:
        assert await db.run(_failing(error, 2, calls)) == "done"
    assert (len(calls), len(waits.sleeps)) == (3, 2)


async def test_run_gives_up_after_the_configured_attempts(make_db: Callable[..., Database]) -> None:
    """After ``retry.attempts`` calls the last error is raised."""
    db = make_db(retry={"attempts": 2})
    calls: list[int] = []
    with testing(), pytest.raises(TransactionConflictError):
        await db.run(_failing(TransactionConflictError("transaction conflict: x"), 5, calls))
    assert len(calls) == 2


@pytest.mark.parametrize(
    "error",
    [
        RdbmsConflictError("integrity constraint violated: x"),
        QueryError("database error: x"),
        ValueError("x"),
    ],
)
async def test_run_never_retries_other_errors(make_db: Callable[..., Database], error: Exception) -> None:
    """Integrity conflicts, query errors and the work's own errors are raised after one call."""
    db = make_db(retry={"attempts": 5})
    calls: list[int] = []
    with testing(), pytest.raises(type(error)):
        await db.run(_failing(error, 1, calls))
    assert len(calls) == 1


async def test_run_attempts_one_disables_retries(make_db: Callable[..., Database]) -> None:
    """``retry.attempts=1`` runs the work once even when the database is unavailable."""
    db = make_db(retry={"attempts": 1})
    calls: list[int] = []
    with testing(), pytest.raises(RdbmsUnavailableError):
        await db.run(_failing(RdbmsUnavailableError("database unavailable: x"), 1, calls))
    assert len(calls) == 1


async def test_run_open_breaker_fails_fast_with_retry_after(make_db: Callable[..., Database]) -> None:
    """Calls that ended unavailable open the breaker; then run fails at once with ``retry_after``."""
    db = make_db(retry={"attempts": 2}, breaker={"failure_threshold": 2, "reset_timeout": 60})
    calls: list[int] = []
    work = _failing(RdbmsUnavailableError("database unavailable: down"), 100, calls)
    with testing():
        for _ in range(2):
            with pytest.raises(RdbmsUnavailableError, match="down"):
                await db.run(work)
        assert len(calls) == 4  # one logical call counts once, however many attempts it took
        with pytest.raises(RdbmsUnavailableError, match="circuit") as info:
            await db.run(work)
    assert len(calls) == 4
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 60
    assert isinstance(info.value.__cause__, CircuitOpenError)


async def test_run_conflicts_do_not_open_the_breaker(make_db: Callable[..., Database]) -> None:
    """Integrity conflicts are the caller's business, not a sick database: the breaker stays closed."""
    db = make_db(breaker={"failure_threshold": 1})
    calls: list[int] = []
    with pytest.raises(RdbmsConflictError):
        await db.run(_failing(RdbmsConflictError("integrity constraint violated: x"), 1, calls))
    assert await db.run(_failing(RdbmsConflictError("unused"), 0, [])) == "done"


async def test_run_attempt_overrunning_the_timeout_is_rdbms_timeout(make_db: Callable[..., Database]) -> None:
    """An attempt longer than ``resilience.timeout`` is rolled back and raised as RdbmsTimeoutError, once."""
    db = make_db(timeout=3, retry={"attempts": 3})  # seconds: the work must start on a busy machine
    calls: list[int] = []
    never = asyncio.Event()

    async def stuck(session: AsyncSession) -> None:
        calls.append(1)
        await session.execute(text("SELECT 1"))
        await never.wait()

    with pytest.raises(RdbmsTimeoutError, match="timed out after 3s") as info:
        await db.run(stuck)
    assert isinstance(info.value, TimeoutError)
    assert len(calls) == 1


async def test_run_commits_each_successful_call(make_db: Callable[..., Database]) -> None:
    """The work's writes are committed when it returns."""
    db = make_db()

    async def create(session: AsyncSession) -> None:
        await session.execute(text("CREATE TABLE run_items (id INTEGER PRIMARY KEY)"))
        await session.execute(text("INSERT INTO run_items (id) VALUES (1)"))

    await db.run(create)
    async with db.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM run_items"))).scalar_one() == 1
