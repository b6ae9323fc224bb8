"""The transactional outbox end to end: internal_rdbms records and relays, internal_aws publishes to SQS.

Real PostgreSQL (the ``postgres_url`` fixture) and a real SQS endpoint (moto's server through
``aws_endpoint_url``). The two libraries never import each other: ``SqsOutboxPublisher`` satisfies
``OutboxPublisher`` by shape, which mypy checks here (``PUBLISHER`` below).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from internal_aws import AwsSettings, Message, SqsClient, SqsConsumer, SqsOutboxPublisher
from internal_base.context import correlation_scope, get_correlation_id
from internal_rdbms import NAMING_CONVENTION, Database, RdbmsSettings
from internal_rdbms.outbox import Outbox, OutboxEvent, OutboxPublisher, OutboxRelay

METADATA = MetaData(naming_convention=NAMING_CONVENTION)
ORDERS = Table(
    "e2e_outbox_orders", METADATA, Column("id", Integer, primary_key=True), Column("item", String(40))
)
# The consumer's idempotency record: one row per outbox id it has applied.
PROCESSED = Table("e2e_outbox_processed", METADATA, Column("outbox_id", String(64), primary_key=True))
OUTBOX = Outbox(METADATA, "e2e_outbox_events")
TOPIC = "orders.created"


def _structural_check(publisher: SqsOutboxPublisher) -> OutboxPublisher:
    """mypy: SqsOutboxPublisher is an OutboxPublisher without either library importing the other."""
    return publisher


@pytest.fixture()
async def database(postgres_url: str) -> AsyncIterator[Database]:
    """PostgreSQL with the orders, processed and outbox tables, empty for each test."""
    db = Database(RdbmsSettings(url=postgres_url, health_check=False))
    await db.create_all(METADATA)
    async with db.transaction() as session:
        for table in (OUTBOX.table, PROCESSED, ORDERS):
            await session.execute(delete(table))
    yield db
    await db.drop_all(METADATA)
    await db.aclose()


@pytest.fixture()
def aws_settings(aws_endpoint_url: str, aws_credentials: dict[str, str]) -> AwsSettings:
    """Settings for the SQS endpoint, without the process-wide health registry."""
    return AwsSettings(
        endpoint_url=aws_endpoint_url,
        region=aws_credentials["region_name"],
        access_key_id=SecretStr(aws_credentials["aws_access_key_id"]),
        secret_access_key=SecretStr(aws_credentials["aws_secret_access_key"]),
        health_check=False,
    )


@pytest.fixture(params=["standard", "fifo"])
async def queue(request: pytest.FixtureRequest, aws_settings: AwsSettings) -> AsyncIterator[SqsClient]:
    """A queue for this test: standard, then FIFO."""
    name = f"e2e-outbox-{uuid.uuid4().hex[:12]}" + (".fifo" if request.param == "fifo" else "")
    async with SqsClient(queue_name=name, settings=aws_settings) as client:
        await client.create_queue(attributes={"VisibilityTimeout": "30"})
        yield client
        await client.delete_queue()


async def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def queue_is_empty(queue: SqsClient) -> bool:
    """No message visible or in flight."""
    counts = await queue.attributes("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    return counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


class IdempotentHandler:
    """Applies each outbox event once: the outbox id goes into PROCESSED in the handler's transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.deliveries: list[tuple[str, str | None, Any]] = []
        self.applied: list[str] = []

    async def __call__(self, message: Message) -> None:
        outbox_id = str(message.attributes["outbox-id"])
        self.deliveries.append((outbox_id, get_correlation_id(), message.json()))
        async with self.database.transaction() as session:
            inserted = await session.execute(
                pg_insert(PROCESSED).values(outbox_id=outbox_id).on_conflict_do_nothing()
            )
            if inserted.rowcount == 1:  # type: ignore[attr-defined]
                self.applied.append(outbox_id)


async def record_order(database: Database, order_id: int) -> OutboxEvent:
    """Insert an order and record its event in the same committed transaction."""
    async with database.transaction() as session:
        await session.execute(ORDERS.insert().values(id=order_id, item=f"item-{order_id}"))
        return await OUTBOX.record(session, TOPIC, {"order": order_id})


async def pending(database: Database) -> int:
    """Events not marked sent."""
    async with database.session() as session:
        return await OUTBOX.pending(session)


async def test_a_committed_event_is_relayed_and_consumed_once(
    database: Database, queue: SqsClient, aws_settings: AwsSettings
) -> None:
    """Recorded with the order → relayed after commit → handled once, in the writer's correlation id."""
    with correlation_scope("corr-outbox-e2e"):
        event = await record_order(database, 1)
    handler = IdempotentHandler(database)
    async with SqsOutboxPublisher({TOPIC: str(queue.queue_url)}, settings=aws_settings) as publisher:
        relay = OutboxRelay(database, OUTBOX, _structural_check(publisher))
        assert await relay.run_once() == 1
        assert await relay.run_once() == 0
    assert await pending(database) == 0
    async with SqsConsumer(queue, handler, wait_time=1, visibility_timeout=30) as consumer:
        await eventually(lambda: consumer.stats.deleted == 1)
    assert handler.deliveries == [(event.id, "corr-outbox-e2e", {"order": 1})]
    assert handler.applied == [event.id]
    assert await queue_is_empty(queue)


async def test_a_rolled_back_transaction_publishes_nothing(
    database: Database, queue: SqsClient, aws_settings: AwsSettings
) -> None:
    """An event recorded in a transaction that rolls back never reaches the queue."""

    async def rejected_order() -> None:
        async with database.transaction() as session:
            await session.execute(ORDERS.insert().values(id=2, item="rejected"))
            await OUTBOX.record(session, TOPIC, {"order": 2})
            raise RuntimeError("order rejected")

    with pytest.raises(RuntimeError, match="order rejected"):
        await rejected_order()
    async with SqsOutboxPublisher({TOPIC: str(queue.queue_url)}, settings=aws_settings) as publisher:
        assert await OutboxRelay(database, OUTBOX, publisher).run_once() == 0
    assert await pending(database) == 0
    async with database.session() as session:
        assert (await session.execute(select(func.count()).select_from(ORDERS))).scalar_one() == 0
    assert await queue.receive(max_messages=10, wait_time=1) == []


class InterruptedPublisher:
    """Publishes for real, then holds the relay's transaction open until the test kills the relay."""

    def __init__(self, publisher: SqsOutboxPublisher) -> None:
        self.publisher = publisher
        self.published = asyncio.Event()
        self.ids: list[str] = []

    async def publish(self, events: Sequence[OutboxEvent]) -> Sequence[str]:
        """Publish, report it, then wait forever (the relay dies before marking anything sent)."""
        self.ids = await self.publisher.publish(events)
        self.published.set()
        await asyncio.Event().wait()
        return self.ids


async def test_a_relay_killed_after_publishing_republishes_and_the_consumer_applies_once(
    database: Database, queue: SqsClient, aws_settings: AwsSettings
) -> None:
    """Killed between publish and mark-sent: the next relay republishes with the same dedup id; the
    idempotent handler applies the event once (FIFO: SQS drops the copy; standard: the handler does)."""
    event = await record_order(database, 3)
    fifo = str(queue.queue_url).endswith(".fifo")
    async with SqsOutboxPublisher({TOPIC: str(queue.queue_url)}, settings=aws_settings) as publisher:
        interrupted = InterruptedPublisher(publisher)
        first = asyncio.ensure_future(OutboxRelay(database, OUTBOX, interrupted).run_once())
        await asyncio.wait_for(interrupted.published.wait(), 15)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert interrupted.ids == [event.id]
        assert await pending(database) == 1  # not marked sent: the relay died first
        assert await OutboxRelay(database, OUTBOX, publisher).run_once() == 1
    assert await pending(database) == 0
    handler = IdempotentHandler(database)
    deliveries = 1 if fifo else 2
    async with SqsConsumer(queue, handler, wait_time=1, visibility_timeout=30) as consumer:
        await eventually(lambda: consumer.stats.deleted == deliveries)
        await asyncio.sleep(1.5)  # one more long poll: nothing else arrives
    assert [outbox_id for outbox_id, _, _ in handler.deliveries] == [event.id] * deliveries
    assert handler.applied == [event.id]
    assert consumer.stats.received == deliveries
    assert await queue_is_empty(queue)
