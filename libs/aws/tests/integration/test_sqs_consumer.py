"""The SQS consumer against a real endpoint: delivery guarantees, concurrency, context, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import pytest
from opentelemetry import trace

from internal_aws import AwsSettings, ConsumerStats, Message, QueueNotFoundError, SqsClient, SqsConsumer
from internal_base.context import correlation_scope, get_correlation_id
from internal_base.logging import ContextFilter
from internal_base.resilience import Backoff, ResilienceSettings, RetryPolicy
from internal_base.telemetry import configure_telemetry, span

# One attempt per receive call and no breaker: the consumer's poll_retry is what these tests count.
NO_RETRY = ResilienceSettings(retry={"attempts": 1}, breaker={"failure_threshold": 0})


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def queue_is_empty(queue: SqsClient) -> bool:
    """No message visible or in flight."""
    counts = await queue.attributes("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    return counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


async def test_processes_and_deletes_every_message(queue: SqsClient) -> None:
    """Each message is handled once and deleted after success; the queue ends empty."""
    seen: list[str] = []

    async def handle(message: Message) -> None:
        seen.append(message.body)

    await queue.send_batch([f"m{i}" for i in range(15)])
    async with SqsConsumer(queue, handle, concurrency=5, wait_time=1, visibility_timeout=10) as consumer:
        await eventually(lambda: consumer.stats.deleted == 15)
        running_before_exit = consumer.running
    assert running_before_exit
    assert sorted(seen) == sorted(f"m{i}" for i in range(15))
    assert consumer.stats.received == 15
    assert consumer.stats.failed == 0
    assert not consumer.running
    assert await queue_is_empty(queue)


async def test_concurrency_limit(queue: SqsClient) -> None:
    """Never more than `concurrency` handlers run at once, and the limit is reached."""
    active = 0
    peak = 0
    full = asyncio.Event()

    async def handle(message: Message) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if active == 4:
            full.set()
        # Hold every handler until the limit was reached once: no dependence on how fast receives are.
        await asyncio.wait_for(full.wait(), 20)
        await asyncio.sleep(0.05)
        active -= 1

    await queue.send_batch([f"c{i}" for i in range(12)])
    async with SqsConsumer(queue, handle, concurrency=4, wait_time=1, visibility_timeout=10) as consumer:
        await eventually(lambda: consumer.stats.deleted == 12)
    assert peak == 4


async def test_failure_leaves_message_for_redelivery(queue: SqsClient) -> None:
    """A failing handler's message is not deleted and comes back with receive count 2."""
    counts: list[int] = []

    async def handle(message: Message) -> None:
        counts.append(message.receive_count)
        if message.receive_count == 1:
            raise RuntimeError("transient failure")

    await queue.send("flaky")
    async with SqsConsumer(
        queue, handle, wait_time=1, visibility_timeout=10, failure_visibility=0
    ) as consumer:
        await eventually(lambda: consumer.stats.deleted == 1)
    assert counts == [1, 2]
    assert consumer.stats.failed == 1
    assert consumer.stats.succeeded == 1


async def test_poison_message_reaches_the_dlq(settings: AwsSettings, unique_name: str) -> None:
    """A message that always fails moves to the dead-letter queue after maxReceiveCount."""
    async with (
        SqsClient(queue_name=f"{unique_name}-dlq", settings=settings) as dlq,
        SqsClient(queue_name=unique_name, settings=settings) as main,
    ):
        await dlq.create_queue()
        arn = (await dlq.attributes("QueueArn"))["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "2"})
        await main.create_queue(attributes={"RedrivePolicy": policy, "VisibilityTimeout": "1"})
        try:
            await main.send("poison")

            async def handle(message: Message) -> None:
                raise ValueError("cannot process")

            async with SqsConsumer(
                main, handle, wait_time=1, visibility_timeout=1, failure_visibility=0
            ) as consumer:
                await eventually(lambda: consumer.stats.failed == 2)
                dead = await dlq.receive(wait_time=5)
            assert [m.body for m in dead] == ["poison"]
            assert consumer.stats.deleted == 0
        finally:
            await main.delete_queue()
            await dlq.delete_queue()


async def test_handler_runs_in_the_producers_context(queue: SqsClient) -> None:
    """Logs inside the handler carry the producer's correlation id; spans join the producer's trace."""
    telemetry = configure_telemetry(service_name="aws-consumer-test", exporter="memory")
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    collector = Collect()
    collector.addFilter(ContextFilter())
    log = logging.getLogger("test.consumer.handler")
    log.addHandler(collector)
    log.setLevel(logging.INFO)
    seen: list[tuple[str | None, int]] = []

    async def handle(message: Message) -> None:
        log.info("handling %s", message.body)
        seen.append((get_correlation_id(), trace.get_current_span().get_span_context().trace_id))

    with correlation_scope("corr-from-producer"), span("produce") as producer:
        await queue.send("traced")
    producer_trace = producer.get_span_context().trace_id
    try:
        async with SqsConsumer(queue, handle, wait_time=1, visibility_timeout=10) as consumer:
            await eventually(lambda: consumer.stats.deleted == 1)
    finally:
        log.removeHandler(collector)
    assert seen == [("corr-from-producer", producer_trace)]
    assert [getattr(r, "correlation_id", None) for r in records] == ["corr-from-producer"]
    assert get_correlation_id() is None
    spans = telemetry.span_exporter.get_finished_spans() if telemetry.span_exporter else ()
    assert [s for s in spans if s.name.startswith("process ")] == []  # not instrumented: no own spans


async def test_graceful_stop_finishes_in_flight_messages(queue: SqsClient) -> None:
    """stop() waits for the running handler, which completes and deletes its message."""
    started = asyncio.Event()
    finished: list[str] = []

    async def handle(message: Message) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.append(message.body)

    await queue.send("in-flight")
    consumer = SqsConsumer(queue, handle, wait_time=1, visibility_timeout=10, shutdown_timeout=5)
    await consumer.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = time.monotonic()
    await consumer.shutdown()
    assert time.monotonic() - stopping >= 0.3
    assert finished == ["in-flight"]
    assert consumer.stats.deleted == 1
    assert await queue_is_empty(queue)


async def test_shutdown_timeout_cancels_and_keeps_the_message(queue: SqsClient) -> None:
    """A handler still running after shutdown_timeout is cancelled; its message is redelivered."""
    started = asyncio.Event()

    async def handle(message: Message) -> None:
        started.set()
        await asyncio.sleep(30)

    await queue.send("too-slow")
    consumer = SqsConsumer(queue, handle, wait_time=1, visibility_timeout=1, shutdown_timeout=0.2)
    await consumer.start()
    await asyncio.wait_for(started.wait(), 5)
    await consumer.shutdown()
    assert consumer.stats.cancelled == 1
    assert consumer.stats.deleted == 0
    [again] = await queue.receive(wait_time=3)
    assert again.body == "too-slow"
    assert again.receive_count == 2
    await queue.delete(again)


async def test_slow_handler_keeps_its_message_hidden(settings: AwsSettings, queue: SqsClient) -> None:
    """Visibility is extended while a slow handler runs, so nobody else receives the message."""
    done = asyncio.Event()
    calls: list[int] = []

    stats: list[ConsumerStats] = []

    async def handle(message: Message) -> None:
        calls.append(message.receive_count)
        # Outlive the 2 s visibility timeout by far; a heartbeat may be 1.7 s late before it matters.
        await eventually(lambda: stats[0].extended >= 10, timeout=30)
        done.set()

    await queue.send("slow")
    consumer = SqsConsumer(queue, handle, wait_time=1, visibility_timeout=2, heartbeat_interval=0.3)
    stats.append(consumer.stats)
    async with consumer:
        await eventually(lambda: consumer.in_flight == 1)
        async with SqsClient(queue_url=queue.queue_url, settings=settings) as other:
            stolen = []
            while not done.is_set():
                stolen += await other.receive(wait_time=0)
                await asyncio.sleep(0.2)
        await eventually(lambda: consumer.stats.deleted == 1)
    assert stolen == []
    assert calls == [1]
    assert consumer.stats.received == 1
    assert consumer.stats.extended >= 10
    assert await queue_is_empty(queue)


async def test_stop_interrupts_the_long_poll(queue: SqsClient) -> None:
    """Stopping an idle consumer returns at once instead of waiting out a 20 s poll."""

    async def handle(message: Message) -> None:
        raise AssertionError("no message expected")

    consumer = SqsConsumer(queue, handle, wait_time=20)
    await consumer.start()
    await eventually(lambda: consumer.running)
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await consumer.shutdown()
    assert time.monotonic() - began < 5.0  # far below the 20 s poll, generous for a busy machine
    assert consumer.stats.received == 0


async def test_missing_queue_stops_the_consumer(settings: AwsSettings) -> None:
    """Errors retrying cannot fix (missing queue) end run() with that error; the client is closed again."""

    async def handle(message: Message) -> None:
        raise AssertionError("no message expected")

    client = SqsClient(queue_name="no-such-queue-for-consumer", settings=settings)
    with pytest.raises(QueueNotFoundError):
        await SqsConsumer(client, handle, wait_time=1).run()
    assert not client.is_open


async def test_receive_errors_are_retried(settings: AwsSettings, caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable endpoint is logged and retried with backoff until stop()."""
    unreachable = settings.model_copy(update={"endpoint_url": "http://127.0.0.1:9", "resilience": NO_RETRY})

    async def handle(message: Message) -> None:
        raise AssertionError("no message expected")

    client = SqsClient(queue_url="http://127.0.0.1:9/123456789012/q", settings=unreachable)
    retry = RetryPolicy(attempts=100, wait=Backoff(initial=0.01, maximum=0.05), name="receive")
    caplog.set_level(logging.WARNING, logger="internal_base.resilience")
    async with SqsConsumer(client, handle, wait_time=1, poll_retry=retry) as consumer:
        await eventually(lambda: sum("retry receive" in r.getMessage() for r in caplog.records) >= 2)
        assert consumer.running
    assert consumer.stats.received == 0
    assert consumer.stats.receive_failed >= 2
    assert consumer.error is None


async def test_zero_shutdown_timeout_cancels_at_once(queue: SqsClient) -> None:
    """shutdown_timeout=0 cancels in-flight handlers at once instead of waiting for them forever."""
    started = asyncio.Event()

    async def handle(message: Message) -> None:
        started.set()
        await asyncio.sleep(30)

    await queue.send("stuck")
    consumer = SqsConsumer(queue, handle, wait_time=1, visibility_timeout=1, shutdown_timeout=0)
    await consumer.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(consumer.shutdown(), 5)
    assert consumer.stats.cancelled == 1
    assert consumer.stats.deleted == 0
    [again] = await queue.receive(wait_time=3)
    assert again.body == "stuck"
    await queue.delete(again)


async def test_aclose_stops_the_background_consumer_and_is_idempotent(queue: SqsClient) -> None:
    """aclose() stops polling and waits for the task; a second call and shutdown() are no-ops."""
    handled: list[str] = []

    async def handle(message: Message) -> None:
        handled.append(message.body)

    consumer = SqsConsumer(queue, handle, wait_time=1, visibility_timeout=10)
    await queue.send("before-close")
    await consumer.start()
    await eventually(lambda: consumer.stats.deleted == 1)
    await consumer.aclose()
    assert not consumer.running
    await consumer.aclose()
    await consumer.shutdown()
    await queue.send("after-close")
    await asyncio.sleep(0.2)
    assert handled == ["before-close"]
    assert consumer.stats.received == 1


async def test_aclose_reraises_the_error_that_stopped_the_consumer(settings: AwsSettings) -> None:
    """A consumer stopped by an error it cannot retry hands that error to aclose()."""

    async def handle(message: Message) -> None:
        raise AssertionError("no message expected")

    consumer = SqsConsumer(SqsClient(queue_name="no-such-queue-for-aclose", settings=settings), handle)
    await consumer.start()
    await eventually(lambda: consumer.error is not None)
    with pytest.raises(QueueNotFoundError):
        await consumer.aclose()
    assert isinstance(consumer.error, QueueNotFoundError)
