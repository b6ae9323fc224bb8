"""SQS against a real endpoint: send/receive, context attributes, batches, visibility, delete."""

from __future__ import annotations

import json

import pytest

from internal_aws import AwsSettings, Message, OutgoingMessage, QueueNotFoundError, SqsClient
from internal_base.context import CORRELATION_ID_HEADER, correlation_scope
from internal_base.health import HealthRegistry, HealthStatus


async def test_send_receive_with_attributes_and_correlation(queue: SqsClient) -> None:
    """Body, typed attributes and the producer's correlation id arrive with the message."""
    with correlation_scope("corr-sqs-1"):
        message_id = await queue.send(
            json.dumps({"job": 7}), attributes={"kind": "report", "n": 3, "b": b"\x01"}
        )
    [message] = await queue.receive(wait_time=1)
    assert message.message_id == message_id
    assert message.json() == {"job": 7}
    assert message.attributes["kind"] == "report"
    assert message.attributes["n"] == 3
    assert message.attributes["b"] == b"\x01"
    assert message.correlation_id == "corr-sqs-1"
    assert message.attributes[CORRELATION_ID_HEADER] == "corr-sqs-1"
    assert message.receive_count == 1
    await queue.delete(message)
    assert await queue.receive() == []


async def test_batch_of_25_is_split_and_all_sent(queue: SqsClient) -> None:
    """25 messages go out in batches of 10 and all arrive, each with the correlation id."""
    with correlation_scope("corr-batch"):
        result = await queue.send_batch([f"m{i}" for i in range(25)])
    assert result.ok
    assert sorted(result.successful, key=int) == [str(i) for i in range(25)]
    received: list[Message] = []
    while len(received) < 25:
        batch = await queue.receive(max_messages=10, wait_time=1, visibility_timeout=30)
        assert batch, "messages missing"
        received += batch
    assert sorted(m.body for m in received) == sorted(f"m{i}" for i in range(25))
    assert {m.correlation_id for m in received} == {"corr-batch"}
    deleted = await queue.delete_batch(received)
    assert deleted.ok
    assert len(deleted.successful) == 25


async def test_per_entry_failures_are_reported(queue: SqsClient) -> None:
    """An invalid entry fails alone; the others are sent."""
    result = await queue.send_batch(
        [
            OutgoingMessage("ok-1", id="a"),
            OutgoingMessage("bad", id="b", delay_seconds=5000),
            OutgoingMessage("ok-2", id="c"),
        ]
    )
    assert set(result.successful) == {"a", "c"}
    assert [(f.id, f.sender_fault) for f in result.failed] == [("b", True)]
    assert result.failed[0].code == "InvalidParameterValue"
    bad = await queue.delete_batch(["not-a-receipt-handle"])
    assert [f.id for f in bad.failed] == ["0"]


async def test_visibility_timeout_and_change(queue: SqsClient) -> None:
    """A message hidden by receive reappears after change_visibility(0) with receive count 2."""
    await queue.send("again")
    [first] = await queue.receive(wait_time=1, visibility_timeout=30)
    assert await queue.receive() == []
    await queue.change_visibility(first, 0)
    [second] = await queue.receive(wait_time=1)
    assert second.message_id == first.message_id
    assert second.receive_count == 2
    await queue.delete(second)


async def test_queue_attributes_and_purge(queue: SqsClient) -> None:
    """attributes reports the queue's settings and counts; purge empties it."""
    await queue.send("x")
    attributes = await queue.attributes()
    assert attributes["VisibilityTimeout"] == "1"
    assert attributes["ApproximateNumberOfMessages"] == "1"
    await queue.purge()
    assert (await queue.attributes("ApproximateNumberOfMessages"))["ApproximateNumberOfMessages"] == "0"


async def test_queue_url_resolved_from_name(settings: AwsSettings, queue: SqsClient) -> None:
    """A client built from the queue name finds the URL; a missing queue raises QueueNotFoundError."""
    async with SqsClient(queue_name=queue.queue_name, settings=settings) as by_name:
        assert await by_name.url() == queue.queue_url
    async with SqsClient(queue_name="no-such-queue-anywhere", settings=settings) as missing:
        with pytest.raises(QueueNotFoundError):
            await missing.send("x")


async def test_health_checks(settings: AwsSettings, queue: SqsClient) -> None:
    """The queue check is healthy for an existing queue and unhealthy for a missing one."""
    registry = HealthRegistry(cache_ttl=0)
    async with SqsClient(queue_url=queue.queue_url, settings=settings, health_registry=registry):
        report = await registry.readiness()
        assert report.status == HealthStatus.HEALTHY
    async with SqsClient(queue_name="no-such-queue-anywhere", settings=settings, health_registry=registry):
        report = await registry.readiness()
        assert report.check("aws.sqs:no-such-queue-anywhere").status == HealthStatus.UNHEALTHY
    async with SqsClient(settings=settings, health_registry=registry):
        assert (await registry.readiness()).check("aws.sqs").status == HealthStatus.HEALTHY


async def test_fifo_queue_keeps_group_order(settings: AwsSettings, unique_name: str) -> None:
    """FIFO queues get group and deduplication ids; a duplicate id is dropped."""
    async with SqsClient(queue_name=f"{unique_name}.fifo", settings=settings) as fifo:
        await fifo.create_queue()
        try:
            for i in range(3):
                await fifo.send(f"f{i}", group_id="g", deduplication_id=f"d{i}")
            await fifo.send("dup", group_id="g", deduplication_id="d0")
            received = await fifo.receive(wait_time=1)
            assert [m.body for m in received] == ["f0", "f1", "f2"]
        finally:
            await fifo.delete_queue()
