"""The consumer's liveness tells the truth (issue #13): unhealthy when its loop stopped or keeps failing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from internal_aws import AwsSettings, Message, SqsClient, SqsConsumer
from internal_aws._errors import RETRYABLE_ERRORS
from internal_base.health import HealthRegistry, HealthStatus
from internal_base.resilience import Backoff, ResilienceSettings, RetryPolicy
from internal_testing import AwsProxy

# One attempt per receive call and no breaker: the consumer's poll_retry is what these tests count.
NO_RETRY = ResilienceSettings(retry={"attempts": 1}, breaker={"failure_threshold": 0})
# Retry receives for ever, quickly: only the health check says that something is wrong.
FOREVER = RetryPolicy(
    attempts=1_000_000,
    wait=Backoff(initial=0.01, maximum=0.05),
    total_timeout=None,
    retry_on=RETRYABLE_ERRORS,
)


async def eventually(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds (it may be async), failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def never(message: Message) -> None:
    raise AssertionError(f"no message expected, got {message.body!r}")


async def liveness(registry: HealthRegistry, name: str) -> tuple[HealthStatus, str | None]:
    check = (await registry.liveness()).check(name)
    return check.status, check.error


@pytest.fixture()
async def proxied(aws_proxy: AwsProxy, settings: AwsSettings, queue: SqsClient) -> AsyncIterator[SqsClient]:
    """The test queue through the fault-injecting proxy, one attempt per call."""
    routed = settings.model_copy(update={"endpoint_url": aws_proxy.url, "resilience": NO_RETRY})
    async with SqsClient(queue_url=queue.queue_url, settings=routed, session=queue.session) as client:
        yield client


async def test_receives_failing_past_the_bound_make_liveness_unhealthy_until_one_succeeds(
    aws_proxy: AwsProxy, proxied: SqsClient, queue: SqsClient
) -> None:
    """unhealthy_after consecutive failed receives: UNHEALTHY while the loop retries; a success heals it."""
    registry = HealthRegistry(cache_ttl=0)
    name = f"aws.sqs.consumer:{proxied.queue_url}"
    handled: list[str] = []

    async def handle(message: Message) -> None:
        handled.append(message.body)

    aws_proxy.fail_next["ReceiveMessage"] = 1_000_000
    consumer = SqsConsumer(
        proxied, handle, wait_time=1, poll_retry=FOREVER, unhealthy_after=3, health_registry=registry
    )
    async with consumer:
        await eventually(lambda: consumer.stats.receive_failed >= 3)
        status, error = await liveness(registry, name)
        assert status == HealthStatus.UNHEALTHY
        assert "consecutive receive calls failed" in (error or "")
        assert "InternalFailure" in (error or "")
        assert consumer.running  # still retrying: only the check tells
        aws_proxy.fail_next.clear()
        await queue.send("after-the-outage")
        await eventually(lambda: handled == ["after-the-outage"])
        assert await liveness(registry, name) == (HealthStatus.HEALTHY, None)
    assert consumer.error is None


async def test_failed_receives_below_the_bound_only_degrade(aws_proxy: AwsProxy, proxied: SqsClient) -> None:
    """Fewer than unhealthy_after consecutive failures: DEGRADED, liveness still passes the probe."""
    registry = HealthRegistry(cache_ttl=0)
    aws_proxy.fail_next["ReceiveMessage"] = 1_000_000
    # After the first failure the loop waits an hour: the count stays at 1 while the test looks.
    slow = RetryPolicy(attempts=5, wait=Backoff(initial=3600, maximum=3600, jitter=False), total_timeout=None)
    consumer = SqsConsumer(
        proxied, never, wait_time=1, poll_retry=slow, unhealthy_after=2, health_registry=registry
    )
    async with consumer:
        await eventually(lambda: consumer.stats.receive_failed == 1)
        status, _ = await liveness(registry, f"aws.sqs.consumer:{proxied.queue_url}")
        assert status == HealthStatus.DEGRADED
    assert consumer.error is None
    assert registry.names == []  # a requested stop removes the check


def test_unhealthy_after_must_be_at_least_one(queue: SqsClient) -> None:
    """A bound below one failure is refused by name."""
    from internal_aws import AwsConfigurationError

    with pytest.raises(AwsConfigurationError, match="unhealthy_after"):
        SqsConsumer(queue, never, unhealthy_after=0)
    assert SqsConsumer(queue, never).unhealthy_after == 5


async def test_a_loop_cancelled_without_stop_is_unhealthy_and_logged_at_error(
    queue: SqsClient, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The task running the consumer cancelled from outside: liveness UNHEALTHY, one ERROR record."""
    registry = HealthRegistry(cache_ttl=0)
    name = f"aws.sqs.consumer:{unique_name}"
    caplog.set_level(logging.INFO, logger="internal_aws.sqs.consumer")
    consumer = SqsConsumer(queue, never, wait_time=1, health_registry=registry)
    task = asyncio.get_running_loop().create_task(consumer.run())
    await eventually(lambda: consumer.running)
    assert (await liveness(registry, name))[0] == HealthStatus.HEALTHY
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status, error = await liveness(registry, name)
    assert status == HealthStatus.UNHEALTHY
    assert "cancelled" in (error or "")
    errors = [
        r for r in caplog.records if r.name == "internal_aws.sqs.consumer" and r.levelno >= logging.ERROR
    ]
    assert len(errors) == 1
    assert "stopped unexpectedly" in errors[0].getMessage()


async def test_a_requested_stop_is_not_an_error(
    queue: SqsClient, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """stop() then the end of run(): no ERROR record and the check is gone (not left unhealthy)."""
    registry = HealthRegistry(cache_ttl=0)
    caplog.set_level(logging.INFO, logger="internal_aws.sqs.consumer")
    consumer = SqsConsumer(queue, never, wait_time=1, health_registry=registry)
    task = asyncio.get_running_loop().create_task(consumer.run())
    await eventually(lambda: consumer.running)
    consumer.stop()
    await asyncio.wait_for(task, 30)
    assert registry.names == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
