"""The transactional outbox and its relay on PostgreSQL, MariaDB and SQLite, with a real in-test publisher."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, func, insert, select, text

from internal_base.context import CORRELATION_ID_HEADER, correlation_scope
from internal_base.health import HealthRegistry
from internal_rdbms import (
    NAMING_CONVENTION,
    Database,
    InvalidQueryError,
    RdbmsSettings,
    RdbmsUnavailableError,
)
from internal_rdbms.outbox import Outbox, OutboxEvent, OutboxPublisher, OutboxRelay

pytestmark = pytest.mark.asyncio(loop_scope="session")

METADATA = MetaData(naming_convention=NAMING_CONVENTION)
ORDERS = Table("ob_orders", METADATA, Column("id", Integer, primary_key=True), Column("item", String(40)))
OUTBOX = Outbox(METADATA, "ob_outbox")


class RecordingPublisher:
    """A real publisher: keeps what it was given, can reject topics and fail a number of calls."""

    def __init__(self, *, reject: Sequence[str] = (), failures: int = 0, pause: float = 0.0) -> None:
        self.published: list[OutboxEvent] = []
        self.reject = set(reject)
        self.failures = failures
        self.pause = pause
        self.calls = 0

    async def publish(self, events: Sequence[OutboxEvent]) -> Sequence[str]:
        """Accept every event whose topic is not rejected (or fail the whole call)."""
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        accepted = [event for event in events if event.topic not in self.reject]
        await asyncio.sleep(self.pause)
        self.published.extend(accepted)
        return [event.id for event in accepted]


class GatedPublisher(RecordingPublisher):
    """Signals when it has published, then waits for a gate before returning (holds the batch open)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def publish(self, events: Sequence[OutboxEvent]) -> Sequence[str]:
        """Publish, tell the test, wait for the gate."""
        self.published.extend(events)
        self.entered.set()
        await self.gate.wait()
        return [event.id for event in events]


@pytest.fixture(scope="session", params=["postgresql", "mysql", "sqlite"])
def outbox_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL per backend (a file for SQLite, so several connections share it)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("outbox") / "outbox.db"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def outbox_db(outbox_url: str) -> AsyncIterator[Database]:
    """The outbox and orders tables on each backend."""
    database = Database(
        RdbmsSettings(url=outbox_url, pool_size=4, max_overflow=4, pool_timeout=30),
        health_registry=HealthRegistry(cache_ttl=0),
    )
    await database.create_all(METADATA)
    yield database
    await database.drop_all(METADATA)
    await database.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def db(outbox_db: Database) -> AsyncIterator[Database]:
    """Empty tables for each test."""
    async with outbox_db.transaction() as session:
        await session.execute(delete(OUTBOX.table))
        await session.execute(delete(ORDERS))
    yield outbox_db


async def _record(
    db: Database, count: int, topic: str = "orders.created", start: int = 0
) -> list[OutboxEvent]:
    events = []
    async with db.transaction() as session:
        for i in range(start, start + count):
            await session.execute(insert(ORDERS).values(id=i + 1, item=f"item-{i}"))  # 0: auto on MariaDB
            events.append(await OUTBOX.record(session, topic, {"order": i, "tags": ["a", "b"]}))
    return events


async def _drain(relay: OutboxRelay) -> int:
    total = 0
    while published := await relay.run_once():
        total += published
    return total


async def test_committed_events_are_published_once_and_marked_sent(db: Database) -> None:
    """Events of a committed transaction reach the publisher with their ids, payload and topic, then stop."""
    recorded = await _record(db, 3)
    publisher = RecordingPublisher()
    relay = OutboxRelay(db, OUTBOX, publisher)
    assert isinstance(publisher, OutboxPublisher)
    assert await relay.run_once() == 3
    assert sorted((e.id, e.topic, str(e.payload)) for e in publisher.published) == sorted(
        (e.id, e.topic, str(e.payload)) for e in recorded
    )
    assert all(e.created_at.utcoffset() is not None for e in publisher.published)
    assert await relay.run_once() == 0
    assert len(publisher.published) == 3
    async with db.session() as session:
        assert await OUTBOX.pending(session) == 0
        assert (await session.execute(select(func.count()).select_from(ORDERS))).scalar_one() == 3


async def test_rolled_back_transaction_publishes_nothing(db: Database) -> None:
    """An event recorded in a transaction that rolls back never reaches the publisher."""

    class Boom(Exception):
        pass

    async def write_then_fail() -> None:
        async with db.transaction() as session:
            await session.execute(insert(ORDERS).values(id=1, item="x"))
            await OUTBOX.record(session, "orders.created", {"order": 1})
            raise Boom

    with pytest.raises(Boom):
        await write_then_fail()
    publisher = RecordingPublisher()
    assert await OutboxRelay(db, OUTBOX, publisher).run_once() == 0
    assert publisher.published == []
    assert publisher.calls == 0


async def test_relay_killed_after_publishing_republishes_with_the_same_ids(db: Database) -> None:
    """Publisher succeeded, relay cancelled before mark-sent: the next relay publishes the same ids again."""
    recorded = await _record(db, 4)
    hanging = GatedPublisher()
    first = asyncio.create_task(OutboxRelay(db, OUTBOX, hanging).run_once())
    await asyncio.wait_for(hanging.entered.wait(), timeout=30)
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    assert sorted(e.id for e in hanging.published) == sorted(e.id for e in recorded)

    again = RecordingPublisher()
    assert await OutboxRelay(db, OUTBOX, again).run_once() == 4
    assert sorted(e.id for e in again.published) == sorted(e.id for e in recorded)
    assert await OutboxRelay(db, OUTBOX, again).run_once() == 0


class ConnectionKillingPublisher(RecordingPublisher):
    """Publishes, then has the server drop every other connection that is inside a transaction."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    async def publish(self, events: Sequence[OutboxEvent]) -> Sequence[str]:
        """Publish, kill the relay's connection (idle in its transaction), report success."""
        self.published.extend(events)
        async with self.db.engine.connect() as connection:
            if self.db.backend == "postgresql":
                await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
                    )
                )
            else:
                result = await connection.execute(
                    text(
                        "SELECT t.trx_mysql_thread_id FROM information_schema.innodb_trx t "
                        "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
                        "WHERE p.db = DATABASE() AND t.trx_mysql_thread_id <> CONNECTION_ID()"
                    )
                )
                threads: list[int] = list(result.scalars())
                for thread in threads:
                    await connection.execute(text(f"KILL CONNECTION {int(thread)}"))
        return [event.id for event in events]


async def test_connection_lost_before_mark_sent_republishes_with_the_same_ids(db: Database) -> None:
    """The server drops the relay's connection after publishing: unavailable, then the same ids again."""
    if db.backend == "sqlite":
        return  # no server connection to drop; the cancellation test covers the same window
    recorded = await _record(db, 3)
    killer = ConnectionKillingPublisher(db)
    with pytest.raises(RdbmsUnavailableError):
        await OutboxRelay(db, OUTBOX, killer).run_once()
    assert sorted(e.id for e in killer.published) == sorted(e.id for e in recorded)
    again = RecordingPublisher()
    assert await OutboxRelay(db, OUTBOX, again).run_once() == 3
    assert sorted(e.id for e in again.published) == sorted(e.id for e in recorded)


async def test_two_relays_never_publish_one_event_twice(db: Database) -> None:
    """Concurrent relays (SKIP LOCKED on PostgreSQL/MariaDB, turns on SQLite) publish each event once."""
    recorded = await _record(db, 60)
    publisher = RecordingPublisher(pause=0.005)
    relays = [OutboxRelay(db, OUTBOX, publisher, batch_size=7) for _ in range(3)]
    totals = await asyncio.gather(*(_drain(relay) for relay in relays))
    counts = Counter(e.id for e in publisher.published)
    assert sum(totals) == 60
    assert set(counts) == {e.id for e in recorded}
    assert max(counts.values()) == 1


async def test_a_second_relay_skips_the_batch_another_relay_holds(db: Database) -> None:
    """While relay A holds its batch mid-publish, relay B takes the rest (PG/MariaDB) or waits (SQLite)."""
    await _record(db, 10)
    gated = GatedPublisher()
    a = asyncio.create_task(OutboxRelay(db, OUTBOX, gated, batch_size=4).run_once())
    await asyncio.wait_for(gated.entered.wait(), timeout=30)
    other = RecordingPublisher()
    b = asyncio.create_task(OutboxRelay(db, OUTBOX, other, batch_size=100).run_once())
    if db.backend != "sqlite":
        assert await asyncio.wait_for(b, timeout=30) == 6  # SKIP LOCKED: only the 6 unlocked events
    gated.gate.set()
    assert await asyncio.wait_for(a, timeout=30) == 4
    if db.backend == "sqlite":
        assert await asyncio.wait_for(b, timeout=30) == 6  # waited for the write lock, then took the rest
    assert not {e.id for e in gated.published} & {e.id for e in other.published}


async def test_headers_carry_the_writers_correlation_id_and_trace(db: Database) -> None:
    """The correlation id and W3C traceparent current when recording reach the publisher."""
    tracer = TracerProvider().get_tracer("outbox-test")
    with correlation_scope("order-flow-42"), tracer.start_as_current_span("checkout") as span:
        async with db.transaction() as session:
            await OUTBOX.record(session, "orders.created", {"order": 1}, headers={"x-tenant": "acme"})
    trace_id = format(span.get_span_context().trace_id, "032x")
    publisher = RecordingPublisher()
    await OutboxRelay(db, OUTBOX, publisher).run_once()
    (event,) = publisher.published
    assert event.headers[CORRELATION_ID_HEADER] == "order-flow-42"
    assert event.headers["traceparent"].split("-")[1] == trace_id
    assert event.headers["x-tenant"] == "acme"


async def test_rejected_topic_does_not_block_other_events(db: Database) -> None:
    """Events the publisher does not return are retried later, behind the due ones; the others flow."""
    bad = await _record(db, 5, topic="nowhere")
    good = await _record(db, 3, start=100)
    publisher = RecordingPublisher(reject=["nowhere"])
    relay = OutboxRelay(db, OUTBOX, publisher, batch_size=5, retry_backoff=3600)
    assert await relay.run_once() == 0  # the 5 oldest: all rejected, rescheduled an hour later
    assert await relay.run_once() == 3
    assert sorted(e.id for e in publisher.published) == sorted(e.id for e in good)
    assert await relay.run_once() == 0
    async with db.session() as session:
        rows = (
            await session.execute(
                select(OUTBOX.table.c.id, OUTBOX.table.c.attempts, OUTBOX.table.c.last_error).where(
                    OUTBOX.table.c.sent_at.is_(None)
                )
            )
        ).all()
    assert sorted(row.id for row in rows) == sorted(e.id for e in bad)
    assert {row.attempts for row in rows} == {1}
    assert {row.last_error for row in rows} == {"not published by the publisher"}


async def test_publisher_failure_is_retried_with_backoff(db: Database) -> None:
    """A publisher error leaves the batch pending (attempts counted); a later run publishes the same ids."""
    recorded = await _record(db, 2)
    publisher = RecordingPublisher(failures=1)
    relay = OutboxRelay(db, OUTBOX, publisher, retry_backoff=0.05)
    assert await relay.run_once() == 0
    async with db.session() as session:
        errors = (await session.execute(select(OUTBOX.table.c.last_error, OUTBOX.table.c.attempts))).all()
    assert [tuple(row) for row in errors] == [("ConnectionError: broker unreachable", 1)] * 2
    published = 0
    async with asyncio.timeout(30):
        while not published:
            published = await relay.run_once()
            await asyncio.sleep(0.02)
    assert sorted(e.id for e in publisher.published) == sorted(e.id for e in recorded)


async def test_hanging_publisher_times_out_as_a_failed_attempt(db: Database) -> None:
    """A publish call over ``publish_timeout`` counts as failed; the events stay pending."""
    await _record(db, 1)
    gated = GatedPublisher()
    relay = OutboxRelay(db, OUTBOX, gated, publish_timeout=0.2, retry_backoff=3600)
    assert await relay.run_once() == 0
    async with db.session() as session:
        assert await OUTBOX.pending(session) == 1
        error: str = (await session.execute(select(OUTBOX.table.c.last_error))).scalar_one()
    assert error == "publish timed out after 0.2s"


async def test_run_loop_publishes_until_stopped(db: Database) -> None:
    """``run()`` publishes events recorded while it runs and returns promptly after ``stop()``."""
    publisher = RecordingPublisher()
    relay = OutboxRelay(db, OUTBOX, publisher, poll_interval=0.05, batch_size=2)
    task = asyncio.create_task(relay.run())
    recorded = await _record(db, 5)
    async with asyncio.timeout(30):
        while len(publisher.published) < 5:
            await asyncio.sleep(0.02)
    relay.stop()
    await asyncio.wait_for(task, timeout=30)
    assert sorted(e.id for e in publisher.published) == sorted(e.id for e in recorded)


async def test_purge_sent_removes_only_old_sent_events(db: Database) -> None:
    """``purge_sent`` deletes sent events older than the cut-off and keeps pending ones."""
    from datetime import timedelta

    await _record(db, 2)
    await OutboxRelay(db, OUTBOX, RecordingPublisher(), batch_size=1).run_once()
    async with db.transaction() as session:
        assert await OUTBOX.purge_sent(session, older_than=timedelta(hours=1)) == 0
        assert await OUTBOX.purge_sent(session, older_than=timedelta(0)) == 1
        assert await OUTBOX.pending(session) == 1


@pytest.mark.parametrize(
    ("topic", "payload", "headers", "message"),
    [
        ("", {}, None, "topic must be a non-empty string"),
        ("t" * 256, {}, None, "at most 255"),
        ("t", ["not", "a", "dict"], None, "payload must be a mapping"),
        ("t", {"when": object()}, None, "not JSON-serialisable"),
        ("t", {"n": float("nan")}, None, "not JSON-serialisable"),
        ("t", {}, {"h": 1}, "headers must map str to str"),
    ],
)
async def test_record_rejects_bad_input(
    db: Database, topic: str, payload: object, headers: dict[str, object] | None, message: str
) -> None:
    """Empty/long topic, non-object or non-JSON payload, non-str headers: InvalidQueryError."""
    async with db.transaction() as session:
        with pytest.raises(InvalidQueryError, match=message):
            await OUTBOX.record(session, topic, payload, headers=headers)  # type: ignore[arg-type]
