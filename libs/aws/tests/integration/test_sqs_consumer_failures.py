"""The consumer's failure paths against the real server: it never dies silently and never loses a message."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import pytest

from internal_aws import (
    AccessDeniedError,
    AwsConfigurationError,
    AwsSettings,
    AwsUnavailableError,
    ConsumerStats,
    Message,
    QueueNotFoundError,
    SqsClient,
    SqsConsumer,
)
from internal_aws._errors import RETRYABLE_ERRORS
from internal_base.context import get_correlation_id, is_valid_correlation_id
from internal_base.health import HealthRegistry, HealthStatus
from internal_base.resilience import Backoff, ResilienceSettings, RetryPolicy, testing
from internal_testing import AwsProxy

# One attempt per receive call and no breaker: the consumer's poll_retry is what these tests count.
NO_RETRY = ResilienceSettings(retry={"attempts": 1}, breaker={"failure_threshold": 0})


async def eventually(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until ``condition()`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def never(message: Message) -> None:
    raise AssertionError(f"no message expected, got {message.body!r}")


async def status_of(registry: HealthRegistry, name: str) -> tuple[HealthStatus, str | None]:
    check = (await registry.readiness()).check(name)
    return check.status, check.error


@pytest.fixture()
async def proxied(aws_proxy: AwsProxy, settings: AwsSettings, queue: SqsClient) -> AsyncIterator[SqsClient]:
    """The test queue, reached through the fault-injecting proxy."""
    routed = settings.model_copy(update={"endpoint_url": aws_proxy.url})
    async with SqsClient(queue_url=queue.queue_url, settings=routed, session=queue.session) as client:
        yield client


async def test_a_deleted_queue_interrupts_the_async_with_block(
    settings: AwsSettings, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting the queue mid-run raises QueueNotFoundError in the caller's block at once, logged at ERROR."""
    registry = HealthRegistry(cache_ttl=0)
    caplog.set_level(logging.ERROR, logger="internal_aws.sqs.consumer")
    async with SqsClient(queue_name=unique_name, settings=settings) as client:
        await client.create_queue()
        consumer = SqsConsumer(client, never, wait_time=1, health_registry=registry)
        deleted_at: list[float] = []

        async def delete_the_queue_and_wait() -> None:
            async with consumer:
                await eventually(lambda: consumer.running)
                assert (await status_of(registry, f"aws.sqs.consumer:{unique_name}"))[
                    0
                ] == HealthStatus.HEALTHY
                await client.delete_queue()
                deleted_at.append(time.monotonic())
                await asyncio.sleep(60)

        with pytest.raises(QueueNotFoundError):
            await delete_the_queue_and_wait()
        assert time.monotonic() - deleted_at[0] < 30
    assert isinstance(consumer.error, QueueNotFoundError)
    status, error = await status_of(registry, f"aws.sqs.consumer:{unique_name}")
    assert status == HealthStatus.UNHEALTHY
    assert "QueueNotFoundError" in (error or "")
    [record] = [r for r in caplog.records if r.name == "internal_aws.sqs.consumer"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], QueueNotFoundError)


async def test_unreachable_endpoint_is_retried_then_stops_the_consumer(settings: AwsSettings) -> None:
    """A closed port is retried with backoff up to poll_retry.attempts, then the error reaches the caller."""
    closed = settings.model_copy(update={"endpoint_url": "http://127.0.0.1:9", "resilience": NO_RETRY})
    registry = HealthRegistry(cache_ttl=0)
    client = SqsClient(queue_url="http://127.0.0.1:9/123456789012/q", settings=closed)
    retry = RetryPolicy(attempts=3, wait=Backoff(initial=0.5, maximum=1.0), retry_on=RETRYABLE_ERRORS)
    consumer = SqsConsumer(client, never, wait_time=1, poll_retry=retry, health_registry=registry)
    with testing() as switch, pytest.raises(AwsUnavailableError):
        async with consumer:
            await asyncio.sleep(60)
    assert consumer.stats.receive_failed == 3
    assert len(switch.sleeps) == 2
    assert (await status_of(registry, "aws.sqs.consumer:http://127.0.0.1:9/123456789012/q"))[0] == (
        HealthStatus.UNHEALTHY
    )


async def test_health_is_degraded_while_receive_calls_fail(settings: AwsSettings) -> None:
    """While receive errors are being retried the consumer runs on and reports itself degraded."""
    closed = settings.model_copy(update={"endpoint_url": "http://127.0.0.1:9", "resilience": NO_RETRY})
    registry = HealthRegistry(cache_ttl=0)
    client = SqsClient(queue_url="http://127.0.0.1:9/123456789012/q", settings=closed)
    retry = RetryPolicy(attempts=10_000, wait=Backoff(initial=0.01, maximum=0.05), total_timeout=None)
    async with SqsConsumer(
        client, never, wait_time=1, poll_retry=retry, health_registry=registry, unhealthy_after=1_000_000
    ) as consumer:
        await eventually(lambda: consumer.stats.receive_failed >= 2)
        assert (await registry.readiness()).status == HealthStatus.DEGRADED
        assert consumer.running
    assert consumer.error is None
    assert registry.names == []


async def test_delete_failure_after_success_redelivers_the_message(
    aws_proxy: AwsProxy, proxied: SqsClient, queue: SqsClient
) -> None:
    """When the delete after a successful handler fails the message comes back instead of being lost."""
    counts: list[int] = []
    aws_proxy.corrupt_receipt_handles = {"DeleteMessageBatch"}

    async def handle(message: Message) -> None:
        counts.append(message.receive_count)
        if message.receive_count >= 2:
            aws_proxy.corrupt_receipt_handles = set()

    await queue.send("once-more")
    async with SqsConsumer(proxied, handle, wait_time=1, visibility_timeout=1) as consumer:
        await eventually(lambda: consumer.stats.deleted == 1)
    assert counts == [1, 2]
    assert consumer.stats.delete_failed == 1
    assert consumer.stats.succeeded == 2
    counts_left = await queue.attributes(
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"
    )
    assert set(counts_left.values()) == {"0"}


async def test_failed_visibility_extension_is_counted_and_the_handler_finishes(
    aws_proxy: AwsProxy, proxied: SqsClient, queue: SqsClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A heartbeat the server rejects is logged once and not retried; the handler completes and is acked."""
    aws_proxy.corrupt_receipt_handles = {"ChangeMessageVisibility"}
    caplog.set_level(logging.WARNING, logger="internal_aws.sqs.consumer")
    stats: list[ConsumerStats] = []

    async def handle(message: Message) -> None:
        await eventually(lambda: stats[0].extend_failed >= 1)
        await asyncio.sleep(1.0)  # five more heartbeat intervals: a rejected handle is not retried

    await queue.send("slow")
    consumer = SqsConsumer(proxied, handle, wait_time=1, visibility_timeout=30, heartbeat_interval=0.2)
    stats.append(consumer.stats)
    async with consumer:
        await eventually(lambda: consumer.stats.deleted == 1)
    assert consumer.stats.extended == 0
    assert consumer.stats.extend_failed == 1
    assert consumer.stats.failed == 0
    assert any("no further extensions" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "hostile",
    ["x" * 500, "abc\ndef", "forged\r\nlevel=ERROR", "tab\there", "quote\"'", "spa ce"],
    ids=["too-long", "newline", "crlf", "tab", "quotes", "space"],
)
async def test_hostile_correlation_id_is_replaced_by_a_fresh_one(queue: SqsClient, hostile: str) -> None:
    """A message whose correlation-id attribute breaks the ID rule is handled under a fresh valid id."""
    seen: list[tuple[str | None, str | None]] = []

    async def handle(message: Message) -> None:
        seen.append((get_correlation_id(), message.correlation_id))

    await queue.send("hostile", attributes={"X-Correlation-ID": hostile})
    async with SqsConsumer(queue, handle, wait_time=1, visibility_timeout=10) as consumer:
        await eventually(lambda: consumer.stats.deleted == 1)
    [(current, attribute)] = seen
    assert current != hostile
    assert is_valid_correlation_id(current)
    assert attribute is None


async def test_handlers_finishing_together_share_one_delete_call(
    aws_proxy: AwsProxy, proxied: SqsClient, queue: SqsClient
) -> None:
    """Ten handlers finishing at once are acknowledged by DeleteMessageBatch, not ten DeleteMessage calls."""
    release = asyncio.Event()
    started = 0

    async def handle(message: Message) -> None:
        nonlocal started
        started += 1
        if started == 10:
            release.set()
        await asyncio.wait_for(release.wait(), 20)

    await queue.send_batch([f"m{i}" for i in range(10)])
    async with SqsConsumer(proxied, handle, concurrency=10, wait_time=1, visibility_timeout=30) as consumer:
        await eventually(lambda: consumer.stats.deleted == 10)
    assert aws_proxy.operations["DeleteMessage"] == 0
    assert 1 <= aws_proxy.operations["DeleteMessageBatch"] <= 2


async def test_a_delete_call_failing_on_the_server_is_retried(
    aws_proxy: AwsProxy, proxied: SqsClient, queue: SqsClient
) -> None:
    """A DeleteMessageBatch answered with 500 is retried with backoff; every message ends deleted once."""
    handled: list[str] = []

    async def handle(message: Message) -> None:
        handled.append(message.body)

    aws_proxy.fail_next["DeleteMessageBatch"] = 2  # two of the policy's three attempts of the first call
    await queue.send_batch([f"m{i}" for i in range(3)])
    async with SqsConsumer(proxied, handle, wait_time=1, visibility_timeout=30) as consumer:
        await eventually(lambda: consumer.stats.deleted == 3)
    assert sorted(handled) == ["m0", "m1", "m2"]
    assert consumer.stats.delete_failed == 0
    assert aws_proxy.fail_next["DeleteMessageBatch"] == 0


async def test_a_client_that_cannot_open_stops_the_consumer_loudly(
    settings: AwsSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown profile fails run() at start-up with the configuration error, logged at ERROR, unhealthy."""
    broken = settings.model_copy(
        update={"access_key_id": None, "secret_access_key": None, "profile": "no-such"}
    )
    registry = HealthRegistry(cache_ttl=0)
    caplog.set_level(logging.ERROR, logger="internal_aws.sqs.consumer")
    consumer = SqsConsumer(SqsClient(queue_name="q", settings=broken), never, health_registry=registry)
    with pytest.raises(AwsConfigurationError):
        await consumer.run()
    assert (await status_of(registry, "aws.sqs.consumer:q"))[0] == HealthStatus.UNHEALTHY
    assert [r.levelno for r in caplog.records if r.name == "internal_aws.sqs.consumer"] == [logging.ERROR]


async def test_revoked_credentials_stop_the_consumer_without_retrying(
    aws_proxy: AwsProxy, proxied: SqsClient
) -> None:
    """ReceiveMessage answered 403 AccessDenied is not retried: AccessDeniedError reaches the caller."""
    aws_proxy.failure = (403, "AccessDenied")
    aws_proxy.fail_next["ReceiveMessage"] = 1_000
    registry = HealthRegistry(cache_ttl=0)
    consumer = SqsConsumer(proxied, never, wait_time=1, health_registry=registry)

    async def consume_until_interrupted() -> None:
        async with consumer:
            await asyncio.sleep(60)

    with pytest.raises(AccessDeniedError):
        await asyncio.wait_for(consume_until_interrupted(), 30)
    assert consumer.stats.receive_failed == 1
    assert (await registry.readiness()).status == HealthStatus.UNHEALTHY


async def test_a_receive_outage_is_retried_and_consumption_resumes(
    aws_proxy: AwsProxy, proxied: SqsClient, queue: SqsClient
) -> None:
    """ReceiveMessage failing with 500s is retried with backoff; once it answers, messages flow again."""
    handled: list[str] = []

    async def handle(message: Message) -> None:
        handled.append(message.body)

    aws_proxy.fail_next["ReceiveMessage"] = 6  # two calls, each with the policy's three attempts
    await queue.send("after-outage")
    with testing():
        async with SqsConsumer(proxied, handle, wait_time=1, visibility_timeout=30) as consumer:
            await eventually(lambda: consumer.stats.deleted == 1)
    assert handled == ["after-outage"]
    assert consumer.stats.receive_failed == 2
    assert consumer.error is None
