"""Bulk-write and outbox argument checks, renamed columns and relay loop errors (in-memory SQLite)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from internal_base.health import HealthRegistry
from internal_rdbms import Database, InvalidQueryError, RdbmsSettings, Repository
from internal_rdbms.outbox import Outbox, OutboxEvent, OutboxRelay


class _Base(DeclarativeBase):
    pass


class Renamed(_Base):
    """Attribute names differ from the column names; ``code`` is unique through an index."""

    __tablename__ = "unit_bulk_renamed"
    __table_args__ = (Index("ix_unit_bulk_renamed_code", "code_col", unique=True),)
    id: Mapped[int] = mapped_column("id_col", primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column("code_col", String(20))
    label: Mapped[str] = mapped_column("label_col", String(20))


class Publisher:
    """A real publisher that accepts everything."""

    def __init__(self) -> None:
        self.published: list[OutboxEvent] = []

    async def publish(self, events: Sequence[OutboxEvent]) -> Sequence[str]:
        """Keep and accept every event."""
        self.published.extend(events)
        return [event.id for event in events]


@pytest.fixture()
async def db() -> Database:
    database = Database(RdbmsSettings(url="sqlite://"), health_registry=HealthRegistry(cache_ttl=0))
    await database.create_all(_Base.metadata)
    return database


async def test_renamed_columns_round_trip_through_every_bulk_write(db: Database) -> None:
    """Rows use attribute names; statements use the column names behind them."""
    async with db.transaction() as session:
        repo = Repository(session, Renamed)
        assert await repo.insert_many([{"id": 1, "code": "a", "label": "one"}]) == 1
        found = await repo.upsert_many(
            [{"id": 2, "code": "b", "label": "two"}, {"id": 9, "code": "a", "label": "uno"}],
            key="code",
            update=["label"],
            returning=True,
        )
        assert [(r.id, r.code, r.label) for r in found] == [(2, "b", "two"), (1, "a", "uno")]
        updated = await repo.update_many([{"code": "b", "label": "dos"}], key=["code"], returning=True)
        assert [(r.id, r.label) for r in updated] == [(2, "dos")]
        assert await repo.delete_many([1, 2]) == 2
        assert await repo.upsert_many([], key="code") == 0
        assert await repo.upsert_many([], key="code", returning=True) == []
        assert await repo.update_many([], returning=True) == []
        assert await repo.delete_many([], returning=True) == []
    await db.aclose()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.insert_many([{"id": 1}], chunk_size=0), "chunk_size must be a positive integer"),
        (
            lambda r: r.insert_many([{"id": 1}], method="fast"),
            "method must be 'auto', 'executemany' or 'copy'",
        ),
        (lambda r: r.insert_many([{}]), "row 0 has no fields"),
        (lambda r: r.upsert_many([{"id": 1, "code": "x"}], key=["code", "code"]), "repeat"),
        (lambda r: r.upsert_many([{"id": 1, "code": "x"}], key="id", update="nope"), r"\['nope'\]"),
        (lambda r: r.delete_many([[1]]), "not hashable"),
        (lambda r: r.update_many([{"id": 1, "code": {"un": "hashable"}}], key="code"), "hashable"),
    ],
)
async def test_bad_bulk_arguments_are_clear_errors(db: Database, call: object, message: str) -> None:
    """Chunk size, method, empty rows, repeated key fields, unhashable keys."""
    async with db.session() as session:
        with pytest.raises(InvalidQueryError, match=message):
            await call(Repository(session, Renamed))  # type: ignore[operator]
    await db.aclose()


def test_outbox_reuses_its_table_and_refuses_a_foreign_one() -> None:
    """A second Outbox on the same metadata shares the table; a non-outbox table of that name is refused."""
    metadata = MetaData()
    first = Outbox(metadata, "events")
    assert Outbox(metadata, "events").table is first.table
    assert repr(first) == "Outbox(table='events')"
    Table("other", metadata, Column("id", Integer, primary_key=True))
    with pytest.raises(ValueError, match="not an outbox table"):
        Outbox(metadata, "other")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": True}, ValueError, "batch_size"),
        ({"poll_interval": 0}, ValueError, "poll_interval must be a positive number"),
        ({"max_backoff": "1"}, ValueError, "max_backoff"),
        ({"publisher": object()}, TypeError, "async publish"),
    ],
)
def test_relay_arguments_are_checked(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    """Batch size, intervals and the publisher are validated when the relay is built."""
    database = Database(RdbmsSettings(url="sqlite://"), health_registry=HealthRegistry(cache_ttl=0))
    arguments: dict[str, object] = {"publisher": Publisher(), **kwargs}
    with pytest.raises(error, match=message):
        OutboxRelay(database, Outbox(MetaData()), **arguments)  # type: ignore[arg-type]


async def test_run_loop_survives_database_errors_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    """A missing table makes each batch fail: the loop logs, waits and still stops on request."""
    database = Database(RdbmsSettings(url="sqlite://"), health_registry=HealthRegistry(cache_ttl=0))
    relay = OutboxRelay(database, Outbox(MetaData()), Publisher(), poll_interval=0.01)
    caplog.set_level(logging.WARNING, logger="internal_rdbms.outbox")
    task = asyncio.create_task(relay.run())
    async with asyncio.timeout(30):
        while not any("outbox relay batch failed" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.01)
    relay.stop()
    await asyncio.wait_for(task, timeout=30)
    async with database.session() as session:
        assert (await session.execute(select(1))).scalar_one() == 1
    await database.aclose()
