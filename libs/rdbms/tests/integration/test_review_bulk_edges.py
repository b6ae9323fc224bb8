"""Adversarial cases of the bulk writes: type fidelity of COPY, large batches, null keys, soft deletes."""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import JSON, Enum, LargeBinary, Numeric, String, delete, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.health import HealthRegistry
from internal_rdbms import (
    Base,
    Database,
    IntPrimaryKeyMixin,
    InvalidQueryError,
    RdbmsSettings,
    Repository,
    SoftDeleteMixin,
)
from internal_rdbms.base import UTCDateTime

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Colour(enum.Enum):
    """An Enum column's values."""

    RED = "r"
    GREEN = "g"


class RvTyped(Base):
    """One column of every awkward type."""

    __tablename__ = "rv_bulk_typed"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    doc: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 4), nullable=True)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    colour: Mapped[Colour | None] = mapped_column(Enum(Colour, name="rv_colour"), nullable=True)
    ref: Mapped[uuid.UUID | None] = mapped_column(nullable=True)


class RvStamped(Base):
    """A column whose Python-side default is a SQL expression (evaluated by the database)."""

    __tablename__ = "rv_bulk_stamped"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(String(20), default=func.lower("DEFAULT"))


class RvCode(IntPrimaryKeyMixin, Base):
    """A nullable unique code: NULL never conflicts."""

    __tablename__ = "rv_bulk_codes"
    code: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    note: Mapped[str] = mapped_column(String(20), default="")


class RvNote(IntPrimaryKeyMixin, SoftDeleteMixin, Base):
    """A soft-deletable row."""

    __tablename__ = "rv_bulk_notes"
    body: Mapped[str] = mapped_column(String(60))


class RvWide(Base):
    """A plain row for large batches."""

    __tablename__ = "rv_bulk_wide"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    a: Mapped[int] = mapped_column()
    b: Mapped[str] = mapped_column(String(20))


MODELS = (RvTyped, RvStamped, RvCode, RvNote, RvWide)
TABLES = [Base.metadata.tables[model.__tablename__] for model in MODELS]


@pytest.fixture(scope="session", params=["postgresql", "mysql", "sqlite"])
def rv_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL per backend (a file for SQLite)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("rvbulk") / "bulk.db"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rv_db(rv_url: str) -> AsyncIterator[Database]:
    """The test tables on each backend."""
    database = Database(
        RdbmsSettings(url=rv_url, pool_size=3, max_overflow=2, pool_timeout=30),
        health_registry=HealthRegistry(cache_ttl=0),
    )
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=TABLES))
    yield database
    async with database.engine.begin() as connection:  # tables one by one: never other tests' enum types
        for table in reversed(TABLES):
            await connection.run_sync(table.drop, checkfirst=True)
    await database.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    """PostgreSQL alone (COPY), one pooled connection so a test sees the one it returned."""
    database = Database(
        RdbmsSettings(url=postgres_url, pool_size=1, max_overflow=0, pool_timeout=30),
        health_registry=HealthRegistry(cache_ttl=0),
    )
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=TABLES))
    async with database.transaction() as session:
        for table in reversed(TABLES):
            await session.execute(delete(table))
    yield database
    await database.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def db(rv_db: Database) -> AsyncIterator[Database]:
    """Empty test tables."""
    async with rv_db.transaction() as session:
        for table in reversed(TABLES):
            await session.execute(delete(table))
    yield rv_db


def _typed_row(i: int, *, nulls: bool, blob: bool = True) -> dict[str, Any]:
    if nulls:
        return {"id": i, "doc": None, "amount": None, "at": None, "blob": None, "colour": None, "ref": None}
    return {
        "id": i,
        "doc": {"n": i, "nested": {"list": [1, "two", None, True]}, "text": "é ✓"},
        "amount": Decimal("1234567890.1234"),
        "at": datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5))),
        "blob": bytes(range(256)) + b"\x00" if blob else None,
        "colour": Colour.GREEN,
        "ref": uuid.UUID(int=i),
    }


def _read(obj: RvTyped) -> tuple[Any, ...]:
    return (obj.doc, obj.amount, obj.at, obj.blob, obj.colour, obj.ref)


@pytest.mark.parametrize("nulls", [False, True])
async def test_copy_reads_back_the_same_values_as_executemany(db: Database, nulls: bool) -> None:
    """JSON, Decimal, aware datetimes, bytes, Enum and UUID round-trip identically through both paths."""
    methods = ["executemany", "copy"] if db.backend == "postgresql" else ["executemany"]
    # aiomysql 0.3.2 with PyMySQL >= 1.1.2 cannot bind bytes at all (escape_bytes_prefixed is a str).
    blob = db.backend != "mysql"
    for index, method in enumerate(methods):
        async with db.transaction() as session:
            count = await Repository(session, RvTyped).insert_many(
                [_typed_row(index * 10 + i, nulls=nulls, blob=blob) for i in range(3)],
                method=method,  # type: ignore[arg-type]
            )
        assert count == 3
    async with db.session() as session:
        rows = (await session.scalars(select(RvTyped).order_by(RvTyped.id))).all()
    assert len(rows) == 3 * len(methods)
    expected = _read(RvTyped(**_typed_row(0, nulls=nulls, blob=blob)))
    for row in rows:
        got = _read(row)
        if not nulls:
            assert got[0] == {"n": row.id, "nested": {"list": [1, "two", None, True]}, "text": "é ✓"}
            assert got[5] == uuid.UUID(int=row.id)
            assert got[2] is not None
            assert got[2].tzinfo is not None
            assert got[2] == datetime(2026, 3, 1, 7, 30, 15, 123456, tzinfo=UTC)
            assert got[1:5] == expected[1:5]
        else:
            assert got == (None,) * 6


async def test_copy_stores_a_json_none_as_executemany_does(pg: Database) -> None:
    """``None`` in a JSON column is JSON ``null`` (not SQL NULL) through COPY as through executemany."""
    async with pg.transaction() as session:
        repo = Repository(session, RvTyped)
        await repo.insert_many([_typed_row(1, nulls=True)], method="executemany")
        await repo.insert_many([_typed_row(2, nulls=True)], method="copy")
    async with pg.transaction() as session:
        sql_null = (await session.scalars(select(RvTyped.id).where(RvTyped.doc.is_(None)))).all()
        await session.execute(delete(RvTyped))
    assert sql_null == []


async def test_auto_insert_of_a_large_batch_evaluates_sql_expression_defaults(db: Database) -> None:
    """A SQL-expression default does not break ``method="auto"`` at the COPY threshold: it falls back."""
    async with db.transaction() as session:
        count = await Repository(session, RvStamped).insert_many([{"id": i} for i in range(1_500)])
    assert count == 1_500
    async with db.session() as session:
        labels = set((await session.scalars(select(RvStamped.label))).all())
    assert labels == {"default"}


async def test_copy_rejects_sql_expression_defaults_when_forced(pg: Database) -> None:
    """``method="copy"`` cannot evaluate the SQL default: a clear error, nothing written."""
    with pytest.raises(InvalidQueryError, match="SQL-expression column defaults"):
        async with pg.transaction() as session:
            await Repository(session, RvStamped).insert_many([{"id": 1}], method="copy")


@pytest.mark.parametrize("operation", ["upsert_many", "update_many"])
async def test_null_key_values_are_rejected_naming_the_row(db: Database, operation: str) -> None:
    """A null key never matches (and NULLs never conflict): refused instead of backend-specific results."""
    async with db.transaction() as session:
        await Repository(session, RvCode).insert_many([{"id": 1, "code": "a", "note": "x"}])
    rows = [{"code": "a", "note": "new"}, {"code": None, "note": "one"}, {"code": None, "note": "two"}]
    async with db.transaction() as session:
        repo = Repository(session, RvCode)
        with pytest.raises(InvalidQueryError, match=r"row 1 .*null.*code"):
            await getattr(repo, operation)(rows, key="code")
    async with db.session() as session:
        assert (await session.execute(select(func.count()).select_from(RvCode))).scalar_one() == 1


async def test_upsert_many_with_a_null_primary_key_is_rejected(db: Database) -> None:
    """``id=None`` would be a new autoincrement row on SQLite/MariaDB and an error on PostgreSQL."""
    async with db.transaction() as session:
        with pytest.raises(InvalidQueryError, match=r"row 0 .*null.*id"):
            await Repository(session, RvCode).upsert_many([{"id": None, "code": "z", "note": "n"}])


async def test_update_many_returning_leaves_out_soft_deleted_rows_it_did_not_update(db: Database) -> None:
    """``returning=True`` returns only rows the UPDATE matched: a soft-deleted row is not returned."""
    async with db.transaction() as session:
        repo = Repository(session, RvNote)
        await repo.insert_many([{"id": 1, "body": "live"}, {"id": 2, "body": "gone"}])
        await repo.delete_many([2])
    async with db.transaction() as session:
        found = await Repository(session, RvNote).update_many(
            [{"id": 1, "body": "L"}, {"id": 2, "body": "G"}, {"id": 3, "body": "missing"}], returning=True
        )
        assert [(note.id, note.body) for note in found] == [(1, "L")]
    async with db.session() as session:
        bodies = {row[0]: row[1] for row in await session.execute(select(RvNote.id, RvNote.body))}
    assert bodies == {1: "L", 2: "gone"}


async def test_update_many_counts_matched_rows_even_when_values_do_not_change(db: Database) -> None:
    """The count is rows matched on every backend (MariaDB would otherwise report rows changed)."""
    async with db.transaction() as session:
        await Repository(session, RvWide).insert_many([{"id": i, "a": i, "b": "same"} for i in range(5)])
    async with db.transaction() as session:
        count = await Repository(session, RvWide).update_many(
            [{"id": i, "a": i, "b": "same"} for i in range(7)]
        )
    assert count == 5


async def test_one_hundred_thousand_rows_through_every_bulk_operation(db: Database) -> None:
    """Chunking keeps every statement under the backends' parameter and packet limits."""
    total = 100_000
    async with db.transaction() as session:
        repo = Repository(session, RvWide)
        assert await repo.insert_many({"id": i, "a": i, "b": f"b{i}"} for i in range(total)) == total
    async with db.transaction() as session:
        repo = Repository(session, RvWide)
        assert (
            await repo.upsert_many([{"id": i, "a": -i, "b": "u"} for i in range(0, total, 2)]) == total // 2
        )
        assert await repo.update_many([{"id": i, "a": 7} for i in range(1, total, 2)]) == total // 2
    async with db.session() as session:
        stats = (await session.execute(select(func.count(), func.sum(RvWide.a)).where(RvWide.b == "u"))).one()
        sevens = (await session.execute(select(func.count()).where(RvWide.a == 7))).scalar_one()
    assert stats[0] == total // 2
    assert int(stats[1]) == -sum(range(0, total, 2))
    assert sevens == total // 2 + (1 if 7 % 2 == 0 else 0)
    async with db.transaction() as session:
        gone = await Repository(session, RvWide).delete_many(range(total + 10))
    assert gone == total


async def test_upsert_many_returning_forty_thousand_rows(db: Database) -> None:
    """RETURNING over several chunks gives one object per key, in input order."""
    rows = [{"id": i, "a": i, "b": "r"} for i in range(40_000)]
    async with db.transaction() as session:
        found = await Repository(session, RvWide).upsert_many(rows[::-1], returning=True)
    assert [obj.id for obj in found] == list(range(39_999, -1, -1))


async def test_copy_in_a_savepoint_rolls_back_with_it_and_works_after_a_failed_statement(
    pg: Database,
) -> None:
    """COPY joins the savepoint; after a failed statement rolled back to a savepoint, COPY works."""
    db = pg
    async with db.transaction() as session:
        repo = Repository(session, RvWide)
        nested = await session.begin_nested()
        await repo.insert_many([{"id": i, "a": i, "b": "sp"} for i in range(10)], method="copy")
        await nested.rollback()
        nested = await session.begin_nested()
        with pytest.raises(DBAPIError):
            await session.execute(text("SELECT 1/0"))
        await nested.rollback()
        await repo.insert_many([{"id": i, "a": i, "b": "after"} for i in range(3)], method="copy")
    async with db.session() as session:
        assert set((await session.scalars(select(RvWide.b))).all()) == {"after"}
        assert (await session.execute(select(func.count()).select_from(RvWide))).scalar_one() == 3


async def test_a_copy_cancelled_mid_stream_returns_a_clean_connection(
    pg: Database, postgres_url: str
) -> None:
    """Cancelled while the server waits inside COPY: the pool's one connection serves the next caller."""
    monitor = Database(
        RdbmsSettings(url=postgres_url, pool_size=2, max_overflow=0),
        health_registry=HealthRegistry(cache_ttl=0),
    )
    rows = [{"id": i, "a": i, "b": "copy"} for i in range(20_000)]

    async def copy() -> None:
        async with pg.transaction() as session:
            await Repository(session, RvWide).insert_many(rows, method="copy")

    try:
        async with monitor.session() as blocker:  # an uncommitted row with a key the COPY also sends
            await blocker.execute(text("INSERT INTO rv_bulk_wide (id, a, b) VALUES (5, 0, 'blocker')"))
            task = asyncio.create_task(copy())
            waiting = 0
            async with asyncio.timeout(60):
                while not waiting:
                    await asyncio.sleep(0.05)
                    async with monitor.engine.connect() as conn:
                        waiting = (await conn.execute(text(_COPY_WAITING))).scalar_one()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await blocker.rollback()
        async with asyncio.timeout(30):
            async with pg.transaction() as session:
                assert await Repository(session, RvWide).insert_many(rows[:3], method="copy") == 3
        async with pg.transaction() as session:
            assert (await session.execute(select(func.count()).select_from(RvWide))).scalar_one() == 3
            await session.execute(delete(RvWide))
        async with monitor.engine.connect() as conn:
            assert (await conn.execute(text(_STUCK))).scalar_one() == 0
    finally:
        await monitor.aclose()


_COPY_WAITING = (
    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%' "
    "AND wait_event_type = 'Lock' AND datname = current_database()"
)
_STUCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND (state = 'idle in transaction' OR (query LIKE 'COPY%' AND state = 'active'))"
)
