"""``Database.run`` against real lost races: deadlocks and serialization failures, provoked on the servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.health import HealthRegistry
from internal_base.resilience import testing
from internal_rdbms import Base, Database, IntPrimaryKeyMixin, RdbmsSettings, TransactionConflictError

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Generous: the servers detect a deadlock within a second, a busy machine may take several.
_WAIT = 30.0


class Counter(IntPrimaryKeyMixin, Base):
    """A counter row; ``tag`` isolates the rows of each test."""

    __tablename__ = "it_run_counters"
    tag: Mapped[str] = mapped_column(String(64), index=True)
    value: Mapped[int] = mapped_column(default=0)


@pytest.fixture(scope="session", params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest) -> str:
    """The URL of this process's fresh database on each server."""
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def counters_table(server_url: str) -> AsyncIterator[str]:
    """Create the counters table once per server."""
    table = Base.metadata.tables[Counter.__tablename__]
    async with (
        Database(RdbmsSettings(url=server_url, health_check=False)) as db,
        db.engine.begin() as connection,
    ):
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[table]))
    yield server_url


@pytest_asyncio.fixture(loop_scope="session")
async def make_db(counters_table: str) -> AsyncIterator[Callable[..., Database]]:
    """Databases on the server with the given retry attempts (closed after the test)."""
    built: list[Database] = []

    def make(attempts: int) -> Database:
        settings = RdbmsSettings(
            url=counters_table,
            pool_size=4,
            pool_timeout=_WAIT,
            resilience={"retry": {"attempts": attempts}, "breaker": {"failure_threshold": 0}},
        )
        built.append(Database(settings, health_registry=HealthRegistry(cache_ttl=0)))
        return built[-1]

    yield make
    for db in built:
        await db.aclose()


async def _rows(db: Database, tag: str, count: int) -> list[int]:
    async with db.transaction() as session:
        rows = [Counter(tag=tag) for _ in range(count)]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def _values(db: Database, ids: list[int]) -> list[int]:
    async with db.session() as session:
        result = await session.execute(select(Counter.value).where(Counter.id.in_(ids)).order_by(Counter.id))
        return list(result.scalars())


def _bump(session: AsyncSession, row: int) -> Awaitable[Any]:
    return session.execute(update(Counter).where(Counter.id == row).values(value=Counter.value + 1))


def _deadlocking(
    first: int, second: int, mine: asyncio.Event, theirs: asyncio.Event, attempts: list[int]
) -> Callable[[AsyncSession], Awaitable[None]]:
    """Lock ``first``, wait until the other side holds ``second``, then update ``second``."""

    async def work(session: AsyncSession) -> None:
        attempts.append(1)
        await _bump(session, first)
        mine.set()
        await asyncio.wait_for(theirs.wait(), _WAIT)
        await _bump(session, second)

    return work


async def _race_deadlock(db: Database, unique_name: str) -> tuple[list[object], list[int], list[int]]:
    a_row, b_row = await _rows(db, unique_name, 2)
    a_locked, b_locked = asyncio.Event(), asyncio.Event()
    a_attempts: list[int] = []
    b_attempts: list[int] = []
    outcomes = await asyncio.gather(
        db.run(_deadlocking(a_row, b_row, a_locked, b_locked, a_attempts)),
        db.run(_deadlocking(b_row, a_row, b_locked, a_locked, b_attempts)),
        return_exceptions=True,
    )
    return list(outcomes), [len(a_attempts), len(b_attempts)], await _values(db, [a_row, b_row])


async def test_real_deadlock_is_a_transaction_conflict(
    make_db: Callable[..., Database], unique_name: str
) -> None:
    """Two transactions locking two rows in opposite order: the victim gets TransactionConflictError."""
    db = make_db(attempts=1)
    outcomes, attempts, values = await _race_deadlock(db, unique_name)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert [type(failure) for failure in failures] == [TransactionConflictError]
    assert "deadlock" in str(failures[0]).lower()
    assert (attempts, values) == ([1, 1], [1, 1])  # the victim's updates were rolled back


async def test_run_retries_a_real_deadlock(make_db: Callable[..., Database], unique_name: str) -> None:
    """``run`` reruns the deadlock victim: both units of work land, three attempts in all."""
    db = make_db(attempts=3)
    with testing():
        outcomes, attempts, values = await _race_deadlock(db, unique_name)
    assert outcomes == [None, None]
    assert (sorted(attempts), values) == ([1, 2], [2, 2])


def _read_then_write(
    row: int, isolation: str, mine: asyncio.Event, theirs: asyncio.Event, attempts: list[int]
) -> Callable[[AsyncSession], Awaitable[None]]:
    """Read the counter, wait until the other side has read it too, then write the read value + 1."""

    async def work(session: AsyncSession) -> None:
        attempts.append(1)
        await session.connection(execution_options={"isolation_level": isolation})
        value = (await session.execute(select(Counter.value).where(Counter.id == row))).scalar_one()
        mine.set()
        await asyncio.wait_for(theirs.wait(), _WAIT)
        await session.execute(update(Counter).where(Counter.id == row).values(value=value + 1))

    return work


async def test_run_retries_a_real_serialization_failure(
    make_db: Callable[..., Database], unique_name: str
) -> None:
    """Two SERIALIZABLE read-then-write increments of one row: the loser is rerun, no update is lost."""
    db = make_db(attempts=3)
    (row,) = await _rows(db, unique_name, 1)
    a_read, b_read = asyncio.Event(), asyncio.Event()
    a_attempts: list[int] = []
    b_attempts: list[int] = []
    with testing():
        await asyncio.gather(
            db.run(_read_then_write(row, "SERIALIZABLE", a_read, b_read, a_attempts)),
            db.run(_read_then_write(row, "SERIALIZABLE", b_read, a_read, b_attempts)),
        )
    # PostgreSQL: "could not serialize access" (40001); MariaDB: the shared read locks deadlock (1213).
    assert (sorted([len(a_attempts), len(b_attempts)]), await _values(db, [row])) == ([1, 2], [2])
