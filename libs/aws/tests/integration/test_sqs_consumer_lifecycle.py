"""SqsConsumer start/aclose under adversarial use: twice, concurrently, from a handler, restarted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from internal_aws import AwsConfigurationError, Message, SqsClient, SqsConsumer
from internal_base.health import HealthRegistry


async def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_aclose_from_inside_a_handler_stops_the_consumer_without_deadlock(queue: SqsClient) -> None:
    """A handler calling aclose() stops the consumer and returns; its own message is then acknowledged."""
    consumers: list[SqsConsumer] = []
    returned: list[str] = []

    async def handle(message: Message) -> None:
        await consumers[0].aclose()
        returned.append(message.body)

    consumer = SqsConsumer(queue, handle, wait_time=1, visibility_timeout=30, shutdown_timeout=120)
    consumers.append(consumer)
    await queue.send("close-from-inside")
    await consumer.start()
    await eventually(lambda: returned == ["close-from-inside"])
    await eventually(lambda: consumer.stats.deleted == 1)
    await asyncio.wait_for(consumer.aclose(), 30)
    assert not consumer.running
    assert consumer.stats.cancelled == 0
    assert consumer.error is None


async def test_a_second_concurrent_aclose_returns_only_once_the_consumer_stopped(queue: SqsClient) -> None:
    """Two aclose() calls at once: neither returns while a handler is still running."""
    release = asyncio.Event()
    seen_by_second: list[tuple[int, int]] = []

    async def handle(message: Message) -> None:
        await release.wait()

    consumer = SqsConsumer(queue, handle, wait_time=1, visibility_timeout=30, shutdown_timeout=120)
    await queue.send("held")
    await consumer.start()
    await eventually(lambda: consumer.in_flight == 1)

    async def second() -> None:
        await consumer.aclose()
        seen_by_second.append((consumer.in_flight, consumer.stats.succeeded))

    first = asyncio.ensure_future(consumer.aclose())
    other = asyncio.ensure_future(second())
    # Nothing may finish while the handler is held (this wait only gives a wrong early return a chance).
    await asyncio.wait({first, other}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
    release.set()
    await asyncio.wait_for(asyncio.gather(first, other), 30)
    assert seen_by_second == [(0, 1)]
    await consumer.aclose()  # and a third, later call returns at once


async def test_start_while_stopping_waits_for_the_previous_run_then_runs_again(
    queue: SqsClient, unique_name: str
) -> None:
    """stop() (or aclose()) then start() while a handler drains: one run at a time, and it runs after."""
    release = asyncio.Event()
    handled: list[str] = []
    registry = HealthRegistry(cache_ttl=0)

    async def handle(message: Message) -> None:
        handled.append(message.body)
        if message.body == "first":
            await release.wait()

    consumer = SqsConsumer(
        queue, handle, wait_time=1, visibility_timeout=30, shutdown_timeout=120, health_registry=registry
    )
    await queue.send("first")
    await consumer.start()
    await eventually(lambda: consumer.in_flight == 1)
    consumer.stop()
    restart = asyncio.ensure_future(consumer.start())
    await asyncio.wait({restart}, timeout=1.0)
    release.set()
    await asyncio.wait_for(restart, 30)
    await eventually(lambda: consumer.running)
    await queue.send("second")
    await eventually(lambda: handled == ["first", "second"] and consumer.stats.deleted == 2)
    assert consumer.running
    assert registry.names == [f"aws.sqs.consumer:{unique_name}"]
    await asyncio.wait_for(consumer.aclose(), 30)
    assert registry.names == []


async def test_aclose_racing_with_start_leaves_one_run_and_a_true_running_flag(
    queue: SqsClient, unique_name: str
) -> None:
    """aclose() in flight, then start(): the old run finishes first, the new one owns the state."""
    release = asyncio.Event()
    registry = HealthRegistry(cache_ttl=0)

    async def handle(message: Message) -> None:
        await release.wait()

    consumer = SqsConsumer(
        queue, handle, wait_time=1, visibility_timeout=30, shutdown_timeout=120, health_registry=registry
    )
    await queue.send("held")
    await consumer.start()
    await eventually(lambda: consumer.in_flight == 1)
    closing = asyncio.ensure_future(consumer.aclose())
    await asyncio.sleep(0)  # one turn: aclose() has asked the run to stop and waits for it
    restart = asyncio.ensure_future(consumer.start())
    await asyncio.wait({closing, restart}, timeout=1.0)
    release.set()
    await asyncio.wait_for(asyncio.gather(closing, restart), 30)
    await eventually(lambda: consumer.running)
    assert registry.names == [f"aws.sqs.consumer:{unique_name}"]
    await asyncio.wait_for(consumer.aclose(), 30)
    assert not consumer.running
    assert registry.names == []


async def test_a_second_concurrent_run_is_refused(queue: SqsClient) -> None:
    """run() while a run is going: a clear error instead of two loops sharing one consumer's state."""

    async def handle(message: Message) -> None:
        return None

    consumer = SqsConsumer(queue, handle, wait_time=1)
    await consumer.start()
    await eventually(lambda: consumer.running)
    with pytest.raises(AwsConfigurationError, match="already running"):
        await consumer.run()
    assert consumer.running
    await asyncio.wait_for(consumer.aclose(), 30)


async def test_start_from_inside_a_handler_while_stopping_is_refused(queue: SqsClient) -> None:
    """Restarting from a handler of the stopping run would wait for that very handler: a clear error."""
    consumers: list[SqsConsumer] = []
    outcome: list[str] = []

    async def handle(message: Message) -> None:
        consumers[0].stop()
        try:
            await consumers[0].start()
        except AwsConfigurationError as exc:
            outcome.append(str(exc))

    consumer = SqsConsumer(queue, handle, wait_time=1, visibility_timeout=30, shutdown_timeout=120)
    consumers.append(consumer)
    await queue.send("restart-from-inside")
    await consumer.start()
    await eventually(lambda: len(outcome) == 1)
    assert "inside a handler" in outcome[0]
    await asyncio.wait_for(consumer.aclose(), 30)
    assert consumer.stats.deleted == 1
