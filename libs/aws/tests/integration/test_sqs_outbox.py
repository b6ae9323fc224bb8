"""SqsOutboxPublisher against a real endpoint: batches, partial failures, topics, FIFO dedup, context."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry import trace

from internal_aws import AwsSettings, Message, SqsClient, SqsConsumer, SqsOutboxPublisher
from internal_base.context import correlation_scope, get_correlation_id, inject_context
from internal_base.resilience import ResilienceSettings
from internal_base.telemetry import configure_telemetry, span
from internal_testing import AwsProxy

NO_RETRY = ResilienceSettings(retry={"attempts": 1}, breaker={"failure_threshold": 0})


@dataclass(frozen=True)
class Event:
    """The shape of ``internal_rdbms.outbox.OutboxEvent`` (the contract), without importing it."""

    id: str
    topic: str
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def record(topic: str, payload: dict[str, Any]) -> Event:
    """An event as a writer records it: a fresh id and the current correlation/trace context."""
    headers: dict[str, str] = {}
    inject_context(headers)
    return Event(uuid.uuid4().hex, topic, payload, headers)


async def receive_all(queue: SqsClient, count: int, timeout: float = 20.0) -> list[Message]:
    """Receive until ``count`` messages arrived (hidden for 60 s), failing after ``timeout``."""
    received: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(received) < count:
        assert time.monotonic() < deadline, f"only {len(received)} of {count} messages arrived"
        received += await queue.receive(max_messages=10, wait_time=1, visibility_timeout=60)
    return received


async def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_events_go_out_ten_per_call_with_body_and_outbox_id(
    settings: AwsSettings, queue: SqsClient, aws_proxy: AwsProxy
) -> None:
    """23 events: 3 SendMessageBatch calls, every id returned in order, bodies JSON, outbox-id set."""
    events = [record("orders", {"n": i, "name": f"order {i}"}) for i in range(23)]
    through_proxy = settings.model_copy(update={"endpoint_url": aws_proxy.url})
    async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=through_proxy) as publisher:
        published = await publisher.publish(events)
    assert published == [event.id for event in events]
    assert aws_proxy.operations["SendMessageBatch"] == 3
    received = await receive_all(queue, 23)
    by_id = {message.attributes["outbox-id"]: message for message in received}
    assert set(by_id) == {event.id for event in events}
    for event in events:
        assert by_id[event.id].json() == event.payload


async def test_a_rejected_event_is_not_returned(settings: AwsSettings, unique_name: str) -> None:
    """SQS refuses a message over the queue's size limit; only the accepted events are reported."""
    async with SqsClient(queue_name=unique_name, settings=settings) as small_messages:
        url = await small_messages.create_queue(attributes={"MaximumMessageSize": str(256 * 1024)})
        try:
            first = record("orders", {"n": 1})
            huge = record("orders", {"blob": "x" * (300 * 1024)})
            last = record("orders", {"n": 3})
            async with SqsOutboxPublisher({"orders": url}, settings=settings) as publisher:
                report = await publisher.publish_report([first, huge, last])
            assert report.published == [first.id, last.id]
            assert list(report.failed) == [huge.id]
            assert "InvalidParameterValue" in report.failed[huge.id]
            received = await receive_all(small_messages, 2)
            assert {m.attributes["outbox-id"] for m in received} == {first.id, last.id}
        finally:
            await small_messages.delete_queue()


async def test_a_failed_batch_call_leaves_only_its_events_unpublished(
    settings: AwsSettings, queue: SqsClient, aws_proxy: AwsProxy
) -> None:
    """The first call of 10 fails (HTTP 500): only the 5 events of the second call are returned."""
    events = [record("orders", {"n": i}) for i in range(15)]
    aws_proxy.fail_next["SendMessageBatch"] = 1
    through_proxy = settings.model_copy(update={"endpoint_url": aws_proxy.url, "resilience": NO_RETRY})
    async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=through_proxy) as publisher:
        report = await publisher.publish_report(events)
    assert report.published == [event.id for event in events[10:]]
    assert sorted(report.failed) == sorted(event.id for event in events[:10])
    assert all("InternalFailure" in reason for reason in report.failed.values())
    received = await receive_all(queue, 5)
    assert {m.attributes["outbox-id"] for m in received} == {event.id for event in events[10:]}


async def test_unknown_topic_is_an_error_and_not_published(
    settings: AwsSettings, queue: SqsClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An event of an unmapped topic is logged at ERROR, named, and left out; the others go out."""
    known = record("orders", {"n": 1})
    stray = record("invoices", {"n": 2})
    caplog.set_level(logging.ERROR, logger="internal_aws.sqs.outbox")
    async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=settings) as publisher:
        report = await publisher.publish_report([stray, known])
    assert report.published == [known.id]
    assert report.failed == {stray.id: "no queue for topic 'invoices' (known topics: orders)"}
    [line] = [r.getMessage() for r in caplog.records if r.name == "internal_aws.sqs.outbox"]
    assert stray.id in line
    assert "'invoices'" in line
    [message] = await receive_all(queue, 1)
    assert message.attributes["outbox-id"] == known.id


async def test_fifo_queue_deduplicates_a_republished_event(settings: AwsSettings, unique_name: str) -> None:
    """On a FIFO queue the event id is the MessageDeduplicationId: publishing twice delivers once."""
    async with SqsClient(queue_name=f"{unique_name}.fifo", settings=settings) as fifo:
        url = await fifo.create_queue()
        try:
            events = [record("orders", {"n": i}) for i in range(3)]
            async with SqsOutboxPublisher({"orders": url}, client=fifo) as publisher:
                assert await publisher.publish(events) == [e.id for e in events]
                assert await publisher.publish(events) == [e.id for e in events]  # the relay retried
            assert fifo.is_open  # the publisher does not close a client it was given
            received = await receive_all(fifo, 3)
            await asyncio.sleep(0.2)
            assert await fifo.receive(max_messages=10, wait_time=1) == []
            assert [m.attributes["outbox-id"] for m in received] == [e.id for e in events]
            for message, event in zip(received, events, strict=True):
                assert message.system_attributes["MessageDeduplicationId"] == event.id
                assert message.system_attributes["MessageGroupId"] == "orders"
        finally:
            await fifo.delete_queue()


async def test_consumer_runs_in_the_recording_requests_context(
    settings: AwsSettings, queue: SqsClient
) -> None:
    """The handler sees the correlation id and trace of the request that recorded the event."""
    configure_telemetry(service_name="aws-outbox-test", exporter="memory")
    with correlation_scope("corr-recorded"), span("request") as request:
        event = record("orders", {"order": 42})
    request_trace = request.get_span_context().trace_id
    seen: list[tuple[str | None, int, str, Any]] = []

    async def handle(message: Message) -> None:
        current = trace.get_current_span().get_span_context().trace_id
        seen.append((get_correlation_id(), current, str(message.attributes["outbox-id"]), message.json()))

    with correlation_scope("corr-relay"):  # the relay runs under its own context
        async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=settings) as publisher:
            assert await publisher.publish([event]) == [event.id]
    async with SqsConsumer(queue, handle, wait_time=1, visibility_timeout=10) as consumer:
        await eventually(lambda: consumer.stats.deleted == 1)
    assert seen == [("corr-recorded", request_trace, event.id, {"order": 42})]


async def test_the_caller_owned_client_is_left_open(settings: AwsSettings, queue: SqsClient) -> None:
    """A publisher given a client never closes it; one it built is closed on exit."""
    async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, client=queue) as publisher:
        assert await publisher.publish([record("orders", {})])
    assert queue.is_open
    owned = SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=settings)
    states = []
    async with owned:
        states.append(owned.client.is_open)
    states.append(owned.client.is_open)
    assert states == [True, False]
    await owned.aclose()  # idempotent
    [message] = await receive_all(queue, 1)
    assert message.json() == {}


async def test_an_id_given_twice_in_one_call_is_sent_once(settings: AwsSettings, queue: SqsClient) -> None:
    """The same event id twice in one publish(): one message (the first copy), the id returned once."""
    first = Event("dup-1", "orders", {"copy": 1})
    again = Event("dup-1", "orders", {"copy": 2})
    other = record("orders", {"n": 2})
    async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=settings) as publisher:
        report = await publisher.publish_report([first, other, again])
    assert report.published == ["dup-1", other.id]
    assert report.failed == {}
    received = await receive_all(queue, 2)
    await asyncio.sleep(0.2)
    received += await queue.receive(max_messages=10, wait_time=1)
    assert sorted(m.body for m in received) == sorted(['{"copy":1}', '{"n":2}'])


async def test_events_given_as_an_iterator_are_all_reported(settings: AwsSettings, queue: SqsClient) -> None:
    """publish() reads its argument once: an iterator's events are sent and all reported published."""
    events = [record("orders", {"n": i}) for i in range(3)]
    async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=settings) as publisher:
        published = await publisher.publish(iter(events))  # type: ignore[arg-type]
    assert published == [e.id for e in events]


async def test_an_event_without_context_does_not_get_the_relays(
    settings: AwsSettings, queue: SqsClient
) -> None:
    """No correlation id recorded with the event: the message does not borrow the relay's."""
    bare = Event(uuid.uuid4().hex, "orders", {"n": 1})
    with correlation_scope("corr-relay"):
        async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=settings) as publisher:
            assert await publisher.publish([bare]) == [bare.id]
    [message] = await receive_all(queue, 1)
    assert message.attributes == {"outbox-id": bare.id}


async def test_fifo_a_failed_call_holds_back_the_rest_of_its_group(
    settings: AwsSettings, unique_name: str, aws_proxy: AwsProxy
) -> None:
    """FIFO: a failed SendMessageBatch keeps the later events of its groups back (order), others go out."""
    through_proxy = settings.model_copy(update={"endpoint_url": aws_proxy.url, "resilience": NO_RETRY})
    async with SqsClient(queue_name=f"{unique_name}.fifo", settings=settings) as fifo:
        url = await fifo.create_queue()
        try:
            orders = [record("orders", {"n": i}) for i in range(12)]
            other = record("other", {"n": 0})
            events = [*orders[:10], other, *orders[10:]]
            aws_proxy.fail_next["SendMessageBatch"] = 1  # the first call: orders 0-9
            queues = {"orders": url, "other": url}
            async with SqsOutboxPublisher(queues, settings=through_proxy) as publisher:
                report = await publisher.publish_report(events)
                assert report.published == [other.id]
                assert set(report.failed) == {e.id for e in orders}
                assert all("held back" in report.failed[e.id] for e in orders[10:])
                assert await publisher.publish(orders) == [e.id for e in orders]  # the relay retries
            received: list[Message] = []
            deadline = time.monotonic() + 30
            while len(received) < 13:  # FIFO: a group's next messages come once these are deleted
                assert time.monotonic() < deadline, f"only {len(received)} of 13 messages arrived"
                batch = await fifo.receive(max_messages=10, wait_time=1, visibility_timeout=60)
                for message in batch:
                    await fifo.delete(message)
                received += batch
            in_group = [m.json()["n"] for m in received if m.system_attributes["MessageGroupId"] == "orders"]
            assert in_group == list(range(12))
        finally:
            await fifo.delete_queue()


class CancellingEvent:
    """An event whose headers cancel the publishing task on their second read (once its queue's turn comes).

    The publisher reads an event's headers when it builds the message and, instrumented, again when
    it links the send span of the event's queue: the second read lands between the two queues' sends.
    """

    def __init__(self, topic: str) -> None:
        self.id = uuid.uuid4().hex
        self.topic = topic
        self.payload: dict[str, Any] = {"n": 2}
        self.reads = 0

    @property
    def headers(self) -> dict[str, str]:
        self.reads += 1
        if self.reads == 2:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        return {}


async def test_cancelled_mid_publish_reports_nothing_and_a_retry_sends_again(
    settings: AwsSettings, queue: SqsClient, unique_name: str
) -> None:
    """Cancelled after the first queue's send: CancelledError, no ids; the retry republishes the same ids."""
    from internal_aws.telemetry import instrument, uninstrument

    configure_telemetry(service_name="aws-outbox-cancel", exporter="memory")
    first = record("first", {"n": 1})
    second = CancellingEvent("second")
    async with SqsClient(queue_name=f"{unique_name}-2", settings=settings) as other:
        other_url = await other.create_queue()
        try:
            queues = {"first": str(queue.queue_url), "second": other_url}
            instrument()
            try:
                async with SqsOutboxPublisher(queues, settings=settings) as publisher:
                    publishing = asyncio.ensure_future(publisher.publish([first, second]))
                    with pytest.raises(asyncio.CancelledError):
                        await publishing
                    assert await other.receive(max_messages=10, wait_time=1) == []
                    [sent] = await receive_all(queue, 1)
                    assert sent.attributes["outbox-id"] == first.id  # accepted, yet not reported
                    assert await publisher.publish([first, second]) == [first.id, second.id]
            finally:
                uninstrument()
            [again] = await receive_all(queue, 1)
            assert again.attributes["outbox-id"] == first.id  # the consumer deduplicates on it
            [late] = await receive_all(other, 1)
            assert late.attributes["outbox-id"] == second.id
        finally:
            await other.delete_queue()
