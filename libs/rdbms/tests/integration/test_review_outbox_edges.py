"""Adversarial outbox cases: odd publishers, stop mid-publish, clock skew, big payloads, locks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert, select, update

from internal_base.health import HealthRegistry
from internal_rdbms import NAMING_CONVENTION, Database, InvalidQueryError, RdbmsSettings
from internal_rdbms._base import utcnow
from internal_rdbms.outbox import Outbox, OutboxEvent, OutboxRelay

pytestmark = pytest.mark.asyncio(loop_scope="session")

METADATA = MetaData(naming_convention=NAMING_CONVENTION)
ROWS = Table("rvo_rows", METADATA, Column("id", Integer, primary_key=True), Column("v", String(20)))
OUTBOX = Outbox(METADATA, "rvo_outbox")


class OddPublisher:
    """Returns whatever the test tells it to, after recording what it was given."""

    def __init__(self, answer: Any = None, *, fail_after: bool = False) -> None:
        self.answer = answer
        self.fail_after = fail_after
        self.given: list[OutboxEvent] = []

    async def publish(self, events: Sequence[OutboxEvent]) -> Any:
        """Record, then answer (or raise after having 'published' everything)."""
        self.given.extend(events)
        if self.fail_after:
            raise ConnectionResetError("lost the broker after sending")
        return self.answer(events) if callable(self.answer) else self.answer


class Gated:
    """Publishes everything, signals, and waits for a gate before returning the ids."""

    def __init__(self) -> None:
        self.given: list[OutboxEvent] = []
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def publish(self, events: Sequence[OutboxEvent]) -> Sequence[str]:
        """Publish, tell the test, wait."""
        self.given.extend(events)
        self.entered.set()
        await self.gate.wait()
        return [event.id for event in events]


@pytest.fixture(scope="session", params=["postgresql", "mysql", "sqlite"])
def rvo_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL per backend (a file for SQLite)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("rvo") / "outbox.db"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rvo_db(rvo_url: str) -> AsyncIterator[Database]:
    """The outbox table on each backend."""
    database = Database(
        RdbmsSettings(url=rvo_url, pool_size=4, max_overflow=0, pool_timeout=30),
        health_registry=HealthRegistry(cache_ttl=0),
    )
    await database.create_all(METADATA)
    yield database
    await database.drop_all(METADATA)
    await database.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def db(rvo_db: Database) -> AsyncIterator[Database]:
    """Empty tables."""
    async with rvo_db.transaction() as session:
        await session.execute(delete(OUTBOX.table))
        await session.execute(delete(ROWS))
    yield rvo_db


async def _record(db: Database, count: int, payload: dict[str, Any] | None = None) -> list[OutboxEvent]:
    async with db.transaction() as session:
        return [await OUTBOX.record(session, "t", payload or {"i": i}) for i in range(count)]


async def _state(db: Database) -> dict[str, tuple[bool, int, str | None]]:
    table = OUTBOX.table
    async with db.session() as session:
        rows = (
            await session.execute(select(table.c.id, table.c.sent_at, table.c.attempts, table.c.last_error))
        ).all()
    return {row[0]: (row[1] is not None, row[2], row[3]) for row in rows}


@pytest.mark.parametrize("answer", [None, 42, "abc"])
async def test_a_publisher_answer_that_is_not_a_list_of_ids_is_a_failed_attempt(
    db: Database, answer: Any
) -> None:
    """``None``, a number or a string (not ids) marks nothing, keeps the relay alive and says why."""
    events = await _record(db, 2)
    relay = OutboxRelay(db, OUTBOX, OddPublisher(answer), retry_backoff=3600)
    assert await relay.run_once() == 0
    state = await _state(db)
    assert {ident: state[ident][:2] for ident in state} == {e.id: (False, 1) for e in events}
    assert all("publisher returned" in (error or "") for _, _, error in state.values())


async def test_unknown_and_repeated_ids_from_the_publisher_are_ignored(db: Database) -> None:
    """Only ids of the batch count, once each; the rest of the batch is retried."""
    events = await _record(db, 3)
    first = events[0].id

    def answer(given: Sequence[OutboxEvent]) -> list[str]:
        return [first, first, "f" * 32, "not-an-id"]

    relay = OutboxRelay(db, OUTBOX, OddPublisher(answer), retry_backoff=3600)
    assert await relay.run_once() == 1
    state = await _state(db)
    assert state[first][:2] == (True, 0)
    assert {state[e.id][:2] for e in events[1:]} == {(False, 1)}
    assert "f" * 32 not in state


async def test_a_publisher_failing_after_sending_leaves_every_event_to_republish(db: Database) -> None:
    """At least once: nothing is marked, the next attempt carries the same ids."""
    events = await _record(db, 3)
    failing = OddPublisher(fail_after=True)
    assert await OutboxRelay(db, OUTBOX, failing, retry_backoff=0.01).run_once() == 0
    assert sorted(e.id for e in failing.given) == sorted(e.id for e in events)
    ok = OddPublisher(lambda given: [e.id for e in given])
    relay = OutboxRelay(db, OUTBOX, ok, retry_backoff=0.01)
    async with asyncio.timeout(30):
        while not ok.given:
            await relay.run_once()
            await asyncio.sleep(0.02)
    assert sorted(e.id for e in ok.given) == sorted(e.id for e in events)
    assert all(sent for sent, _, _ in (await _state(db)).values())


async def test_stop_while_publishing_finishes_and_marks_the_batch(db: Database) -> None:
    """``stop()`` mid-publish: the batch in flight is marked sent, nothing after it is claimed."""
    events = await _record(db, 3)
    gated = Gated()
    relay = OutboxRelay(db, OUTBOX, gated, batch_size=2, poll_interval=0.05)
    task = asyncio.create_task(relay.run())
    await asyncio.wait_for(gated.entered.wait(), timeout=30)
    relay.stop()
    gated.gate.set()
    await asyncio.wait_for(task, timeout=30)
    state = await _state(db)
    sent = {ident for ident, (done, _, _) in state.items() if done}
    assert sent == {e.id for e in gated.given}
    assert len(sent) == 2
    assert len(state) == len(events)


async def test_events_from_a_writer_whose_clock_runs_ahead_are_due_at_once(db: Database) -> None:
    """A writer a day ahead of the relay: its fresh event is published now, not a day later."""
    (event,) = await _record(db, 1)
    ahead = utcnow() + timedelta(days=1)
    async with db.transaction() as session:  # the writer's clock only shows in created_at
        await session.execute(update(OUTBOX.table).values(created_at=ahead))
    async with db.session() as session:
        due: datetime = (await session.execute(select(OUTBOX.table.c.next_attempt_at))).scalar_one()
    assert due < utcnow() - timedelta(days=365)  # never "later" for any relay's clock
    publisher = OddPublisher(lambda given: [e.id for e in given])
    assert await OutboxRelay(db, OUTBOX, publisher).run_once() == 1
    assert [e.id for e in publisher.given] == [event.id]


async def test_fresh_events_are_relayed_in_the_order_they_were_recorded(db: Database) -> None:
    """Due events are claimed oldest first (not in random id order)."""
    events = [(await _record(db, 1))[0] for _ in range(12)]
    publisher = OddPublisher(lambda given: [e.id for e in given])
    relay = OutboxRelay(db, OUTBOX, publisher, batch_size=5)
    while await relay.run_once():
        pass
    assert [e.id for e in publisher.given] == [e.id for e in events]


async def test_a_large_payload_round_trips(db: Database) -> None:
    """A 3 MB JSON object is stored and relayed unchanged; a 255-character non-ASCII topic fits."""
    payload = {"blob": "x" * 3_000_000, "unicode": "é✓" * 1000}
    topic = "é" * 255
    async with db.transaction() as session:
        await OUTBOX.record(session, topic, payload)
    publisher = OddPublisher(lambda given: [e.id for e in given])
    assert await OutboxRelay(db, OUTBOX, publisher).run_once() == 1
    (got,) = publisher.given
    assert got.payload == payload
    assert got.topic == topic


@pytest.mark.parametrize("topic", ["", "t" * 300])
async def test_topics_of_zero_and_300_characters_are_refused(db: Database, topic: str) -> None:
    """A clear error at record() time, nothing written."""
    async with db.transaction() as session:
        with pytest.raises(InvalidQueryError, match="topic"):
            await OUTBOX.record(session, topic, {})
    assert await _state(db) == {}


async def test_a_writer_is_not_blocked_while_a_relay_holds_its_claim(db: Database) -> None:
    """READ COMMITTED claims take no gap locks on MariaDB: recording new events does not wait."""
    await _record(db, 2)
    gated = Gated()
    holder = asyncio.create_task(OutboxRelay(db, OUTBOX, gated).run_once())
    await asyncio.wait_for(gated.entered.wait(), timeout=30)
    if db.backend == "sqlite":
        gated.gate.set()  # SQLite: the relay holds the single write lock while publishing (documented)
    async with asyncio.timeout(20):  # well under MariaDB's 50 s innodb_lock_wait_timeout
        async with db.transaction() as session:
            await session.execute(insert(ROWS).values(id=1, v="x"))
            await OUTBOX.record(session, "t", {"late": True})
    gated.gate.set()
    assert await asyncio.wait_for(holder, timeout=30) == 2
    state = await _state(db)
    assert sorted(done for done, _, _ in state.values()) == [False, True, True]


async def test_purge_never_deletes_unsent_events_whatever_their_age(db: Database) -> None:
    """Old pending and failed events survive a purge of everything sent."""
    events = await _record(db, 3)
    old = utcnow() - timedelta(days=400)
    async with db.transaction() as session:
        await session.execute(update(OUTBOX.table).values(created_at=old, next_attempt_at=old, attempts=9))
        await session.execute(
            update(OUTBOX.table).where(OUTBOX.table.c.id == events[0].id).values(sent_at=old)
        )
    async with db.transaction() as session:
        assert await OUTBOX.purge_sent(session, older_than=timedelta(0)) == 1
    assert set(await _state(db)) == {e.id for e in events[1:]}
