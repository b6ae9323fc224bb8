"""internal_aws.telemetry against a real endpoint: semconv spans, one producer→consumer trace, metrics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from internal_aws import (
    AwsSettings,
    DynamoTable,
    Message,
    ObjectNotFoundError,
    S3Client,
    SqsClient,
    SqsConsumer,
    SqsOutboxPublisher,
)
from internal_aws.telemetry import instrument, is_instrumented, uninstrument
from internal_base.context import correlation_scope, inject_context
from internal_base.telemetry import Telemetry, configure_telemetry, span


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """In-memory telemetry with internal_aws instrumented; uninstrumented afterwards."""
    configured = configure_telemetry(service_name="aws-telemetry-test", exporter="memory")
    instrument()
    yield configured
    uninstrument()


def finished(telemetry: Telemetry) -> list[ReadableSpan]:
    """The spans exported so far."""
    assert telemetry.span_exporter is not None
    return list(telemetry.span_exporter.get_finished_spans())


def named(telemetry: Telemetry, name: str) -> list[ReadableSpan]:
    """The exported spans called ``name``."""
    return [s for s in finished(telemetry) if s.name == name]


def points(telemetry: Telemetry, metric: str) -> list[Any]:
    """The data points of ``metric`` from the internal_aws meter."""
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    found: list[Any] = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            if scope.scope.name != "internal_aws":
                continue
            for item in scope.metrics:
                if item.name == metric:
                    found += list(item.data.data_points)
    return found


def units(telemetry: Telemetry) -> dict[str, str]:
    """Metric name → unit, for the internal_aws meter."""
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    return {
        item.name: item.unit or ""
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        if scope.scope.name == "internal_aws"
        for item in scope.metrics
    }


def parent_id(item: ReadableSpan) -> int | None:
    """The span id of the parent, None for a root span."""
    return item.parent.span_id if item.parent is not None else None


async def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_nothing_is_recorded_until_instrumented(queue: SqsClient, s3: S3Client) -> None:
    """Without instrument(): no internal_aws span and no metric, while context still propagates."""
    configured = configure_telemetry(service_name="aws-telemetry-off", exporter="memory")
    assert not is_instrumented()
    await s3.put_bytes("off.txt", b"x")
    with span("request") as request:
        await queue.send("off")
    handled: list[int] = []

    async def handle(message: Message) -> None:
        from opentelemetry import trace

        handled.append(trace.get_current_span().get_span_context().trace_id)

    async with SqsConsumer(queue, handle, wait_time=1, visibility_timeout=10) as consumer:
        await eventually(lambda: consumer.stats.deleted == 1)
    assert [s.name for s in finished(configured)] == ["request"]
    assert units(configured) == {}
    assert handled == [request.get_span_context().trace_id]


async def test_aws_calls_are_client_spans_with_rpc_attributes(
    telemetry: Telemetry, s3: S3Client, table: DynamoTable, settings: AwsSettings
) -> None:
    """S3 and DynamoDB calls: CLIENT spans Service.Operation with rpc.*, aws.* and the resource."""
    await s3.put_bytes("semconv.txt", b"hello")
    await table.put({"pk": "a", "sk": 1})
    with pytest.raises(ObjectNotFoundError):
        await s3.get_bytes("missing.txt")
    [put] = named(telemetry, "S3.PutObject")
    assert put.kind == SpanKind.CLIENT
    attributes = dict(put.attributes or {})
    assert attributes["rpc.system"] == "aws-api"
    assert attributes["rpc.service"] == "S3"
    assert attributes["rpc.method"] == "PutObject"
    assert attributes["aws.s3.bucket"] == s3.bucket
    assert attributes["aws.s3.key"] == "semconv.txt"
    assert attributes["cloud.region"] == settings.region
    assert str(attributes["aws.request_id"])
    [item] = named(telemetry, "DynamoDB.PutItem")
    assert dict(item.attributes or {})["aws.dynamodb.table_names"] == (table.name,)
    [missing] = named(telemetry, "S3.GetObject")
    assert missing.status.status_code == StatusCode.ERROR
    assert dict(missing.attributes or {})["error.type"] == "NoSuchKey"


async def test_producer_and_consumer_spans_make_one_trace(telemetry: Telemetry, queue: SqsClient) -> None:
    """request → send <queue> (PRODUCER) → SQS.SendMessage; process <queue> (CONSUMER) is the
    producer span's child and links to it; the handler's own span is the process span's child."""
    queue_name = str(queue.queue_name)

    async def handle(message: Message) -> None:
        with span("handler work"):
            pass

    with correlation_scope("corr-trace"), span("request") as request:
        message_id = await queue.send("traced")
    async with SqsConsumer(queue, handle, wait_time=1, visibility_timeout=10) as consumer:
        await eventually(lambda: consumer.stats.deleted == 1)
    trace_id = request.get_span_context().trace_id
    [send] = named(telemetry, f"send {queue_name}")
    [call] = named(telemetry, "SQS.SendMessage")
    [process] = named(telemetry, f"process {queue_name}")
    [work] = named(telemetry, "handler work")
    assert send.kind == SpanKind.PRODUCER
    assert process.kind == SpanKind.CONSUMER
    assert {s.context.trace_id for s in (send, call, process, work)} == {trace_id}
    assert parent_id(send) == request.get_span_context().span_id
    assert parent_id(call) == send.context.span_id
    assert parent_id(process) == send.context.span_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert parent_id(work) == process.context.span_id
    send_attributes = dict(send.attributes or {})
    assert send_attributes["messaging.system"] == "aws_sqs"
    assert send_attributes["messaging.destination.name"] == queue_name
    assert send_attributes["messaging.operation.type"] == "send"
    assert send_attributes["messaging.message.id"] == message_id
    assert send_attributes["commons.correlation_id"] == "corr-trace"
    process_attributes = dict(process.attributes or {})
    assert process_attributes["messaging.operation.type"] == "process"
    assert process_attributes["messaging.message.id"] == message_id
    assert process_attributes["commons.correlation_id"] == "corr-trace"


async def test_a_batch_send_is_one_producer_span(telemetry: Telemetry, queue: SqsClient) -> None:
    """send_batch of 12: one PRODUCER span with the batch count, two SendMessageBatch client spans."""
    result = await queue.send_batch([f"b{i}" for i in range(12)])
    assert result.ok
    [send] = named(telemetry, f"send {queue.queue_name}")
    assert dict(send.attributes or {})["messaging.batch.message_count"] == 12
    calls = named(telemetry, "SQS.SendMessageBatch")
    assert len(calls) == 2
    assert [parent_id(c) for c in calls] == [send.context.span_id] * 2
    [sent] = points(telemetry, "messaging.client.sent.messages")
    assert sent.value == 12
    assert dict(sent.attributes)["messaging.destination.name"] == queue.queue_name


async def test_consumer_metrics(telemetry: Telemetry, queue: SqsClient) -> None:
    """Received, processed by outcome, handler duration (s) and queue lag (s) match what happened.

    SQS standard queues deliver at least once (moto too may hand a message out again), so the
    metrics are checked against the consumer's own counts, with the known minimums.
    """
    attempts: dict[str, int] = {}
    done: set[str] = set()

    async def handle(message: Message) -> None:
        attempts[message.body] = attempts.get(message.body, 0) + 1
        if message.body == "flaky" and attempts["flaky"] == 1:
            raise RuntimeError("first attempt fails")
        done.add(message.body)

    await queue.send_batch(["ok-1", "ok-2", "flaky"])
    async with SqsConsumer(
        queue, handle, wait_time=1, visibility_timeout=10, failure_visibility=0
    ) as consumer:
        await eventually(lambda: done == {"ok-1", "ok-2", "flaky"} and consumer.in_flight == 0)
    stats = consumer.stats
    assert stats.failed == 1
    assert stats.received >= 4
    queue_name = queue.queue_name
    consumed = points(telemetry, "messaging.client.consumed.messages")
    assert sum(p.value for p in consumed) == stats.received
    assert {dict(p.attributes)["messaging.destination.name"] for p in consumed} == {queue_name}
    processed = {
        (dict(p.attributes)["outcome"], dict(p.attributes).get("error.type")): p.value
        for p in points(telemetry, "aws.sqs.processed.messages")
    }
    assert processed == {("success", None): stats.succeeded, ("failure", "RuntimeError"): 1}
    durations = points(telemetry, "messaging.process.duration")
    assert sum(p.count for p in durations) == stats.received
    assert all(p.min >= 0 for p in durations)
    assert all(p.max < 30 for p in durations)
    [lag] = points(telemetry, "aws.sqs.queue.lag")
    assert lag.count == stats.received
    assert lag.min >= 0
    assert lag.max < 60
    assert units(telemetry)["messaging.process.duration"] == "s"
    assert units(telemetry)["aws.sqs.queue.lag"] == "s"
    assert units(telemetry)["messaging.client.consumed.messages"] == "{message}"
    processes = named(telemetry, f"process {queue_name}")
    [failed] = [s for s in processes if s.status.status_code == StatusCode.ERROR]
    assert dict(failed.attributes or {})["error.type"] == "RuntimeError"


@dataclass(frozen=True)
class Event:
    """An outbox event of the contract's shape."""

    id: str
    topic: str
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


async def test_outbox_send_links_the_recording_requests(
    telemetry: Telemetry, settings: AwsSettings, queue: SqsClient
) -> None:
    """The publisher's send span links to each event's request; each process span joins its request."""
    requests = []
    events = []
    for n in range(2):
        with span(f"request {n}") as request:
            headers: dict[str, str] = {}
            inject_context(headers)
        requests.append(request.get_span_context())
        events.append(Event(uuid.uuid4().hex, "orders", {"n": n}, headers))
    with span("relay"):
        async with SqsOutboxPublisher({"orders": str(queue.queue_url)}, settings=settings) as publisher:
            assert await publisher.publish(events) == [e.id for e in events]

    async def handle(message: Message) -> None:
        return None

    async with SqsConsumer(queue, handle, wait_time=1, visibility_timeout=10) as consumer:
        await eventually(lambda: consumer.stats.deleted == 2)
    [send] = named(telemetry, f"send {queue.queue_name}")
    assert {(link.context.trace_id, link.context.span_id) for link in send.links} == {
        (r.trace_id, r.span_id) for r in requests
    }
    processes = named(telemetry, f"process {queue.queue_name}")
    assert {(p.context.trace_id, parent_id(p)) for p in processes} == {
        (r.trace_id, r.span_id) for r in requests
    }


async def test_uninstrument_stops_recording(telemetry: Telemetry, queue: SqsClient) -> None:
    """After uninstrument() calls make no spans and no metric points; instrument() is idempotent."""
    instrument()
    await queue.send("on")
    assert len(named(telemetry, f"send {queue.queue_name}")) == 1
    uninstrument()
    uninstrument()
    assert not is_instrumented()
    await queue.send_batch(["off-1", "off-2"])
    assert len(named(telemetry, f"send {queue.queue_name}")) == 1
    assert named(telemetry, "SQS.SendMessageBatch") == []
    [sent] = points(telemetry, "messaging.client.sent.messages")
    assert sent.value == 1


ALLOWED_METRIC_ATTRIBUTES = {
    "messaging.system",
    "messaging.destination.name",
    "messaging.operation.name",
    "outcome",
    "error.type",
}


async def test_a_cancelled_handler_has_an_error_span_matching_its_metric(
    telemetry: Telemetry, queue: SqsClient
) -> None:
    """Cancelled at shutdown: the process span is ERROR with the error.type the processed metric has."""
    started = asyncio.Event()

    async def handle(message: Message) -> None:
        started.set()
        await asyncio.Event().wait()  # never returns: shutdown cancels it

    await queue.send("stuck")
    async with SqsConsumer(queue, handle, wait_time=1, visibility_timeout=30, shutdown_timeout=0) as consumer:
        await asyncio.wait_for(started.wait(), 30)
    assert consumer.stats.cancelled == 1
    [process] = named(telemetry, f"process {queue.queue_name}")
    [point] = points(telemetry, "aws.sqs.processed.messages")
    assert dict(point.attributes)["outcome"] == "cancelled"
    assert process.status.status_code == StatusCode.ERROR
    assert dict(process.attributes or {})["error.type"] == dict(point.attributes)["error.type"]


async def test_metric_attributes_are_bounded(telemetry: Telemetry, queue: SqsClient) -> None:
    """No message id, body, correlation id or receipt handle in any metric attribute."""
    done: list[str] = []

    async def handle(message: Message) -> None:
        done.append(message.body)
        if message.body == "fail-once" and done.count("fail-once") == 1:
            raise ValueError(message.message_id)

    with correlation_scope("corr-metrics"):
        await queue.send_batch(["body-1", "fail-once"])
    async with SqsConsumer(
        queue, handle, wait_time=1, visibility_timeout=10, failure_visibility=0
    ) as consumer:
        await eventually(lambda: done.count("fail-once") >= 2 and consumer.stats.deleted >= 2)
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    keys: set[str] = set()
    values: set[str] = set()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            if scope.scope.name == "internal_aws":
                for item in scope.metrics:
                    for point in item.data.data_points:
                        attributes = dict(point.attributes or {})
                        keys |= set(attributes)
                        values |= {str(v) for v in attributes.values()}
    assert keys <= ALLOWED_METRIC_ATTRIBUTES
    assert not values & {"body-1", "fail-once", "corr-metrics"}
    assert not any(len(v) > 64 for v in values)


async def test_instrument_and_uninstrument_while_a_consumer_runs(
    telemetry: Telemetry, queue: SqsClient
) -> None:
    """Switching mid-handler never breaks a handler; the next message follows the new switch."""
    release = asyncio.Event()
    started = asyncio.Event()
    handled: list[str] = []

    async def handle(message: Message) -> None:
        if message.body == "first":
            started.set()
            await release.wait()
        handled.append(message.body)

    await queue.send("first")
    async with SqsConsumer(queue, handle, wait_time=1, visibility_timeout=30) as consumer:
        await asyncio.wait_for(started.wait(), 30)
        uninstrument()  # mid-handler: its span and metrics end without instruments
        release.set()
        await eventually(lambda: consumer.stats.deleted >= 1)
        instrument()
        await queue.send("second")
        await eventually(lambda: "second" in handled and consumer.stats.deleted >= 2)
    assert handled[:2] == ["first", "second"]
    assert consumer.stats.failed == 0
    assert len(named(telemetry, f"process {queue.queue_name}")) >= 2
