"""Long-polling SQS consumer: bounded concurrency, at-least-once delivery, graceful shutdown.

Guarantees:

* A message is deleted only after its handler returned without raising; a failing handler leaves
  it for redelivery after the visibility timeout (and so, past ``maxReceiveCount``, for the DLQ).
* While a handler runs longer than the visibility timeout allows, the message's visibility is
  extended every ``heartbeat_interval`` seconds, so no other consumer receives it meanwhile.
* ``stop()`` stops polling at once (an interrupted long poll delivers nothing), lets in-flight
  handlers finish within ``shutdown_timeout`` and then cancels the rest, leaving their messages
  in the queue: nothing received is ever dropped unprocessed and deleted.
* Each handler runs inside ``internal_base.context.extract_context`` of the message's attributes,
  so its logs carry the producer's correlation id and its spans join the producer's trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, TypeVar

from internal_aws._errors import CALLER_ERRORS, AwsConfigurationError, AwsError
from internal_aws.sqs._types import Message
from internal_aws.sqs.client import SqsClient
from internal_base.context import extract_context, spawn
from internal_base.resilience import RetryPolicy, sleep, with_timeout
from internal_base.telemetry import span

__all__ = ["ConsumerStats", "Handler", "SqsConsumer"]

_log = logging.getLogger("internal_aws.sqs.consumer")
_T = TypeVar("_T")
_STOPPED: Final = object()

Handler = Callable[[Message], Awaitable[object]]
"""``async def handler(message) -> None``: raise to leave the message for redelivery."""


@dataclass
class ConsumerStats:
    """Counters of one consumer (since it was created).

    Attributes:
        received: Messages received.
        succeeded: Handlers that returned.
        failed: Handlers that raised (messages left for redelivery).
        deleted: Messages deleted after success.
        extended: Visibility extensions made for slow handlers.
        cancelled: Handlers cancelled at shutdown (messages left for redelivery).
    """

    received: int = 0
    succeeded: int = 0
    failed: int = 0
    deleted: int = 0
    extended: int = 0
    cancelled: int = 0


class SqsConsumer:
    """Receive from ``client``'s queue and run ``handler`` for each message.

    Example::

        async def handle(message: Message) -> None:
            await process(message.json())

        async with SqsClient(queue_name="jobs", settings=settings) as sqs:
            consumer = SqsConsumer(sqs, handle, concurrency=20)
            loop.add_signal_handler(signal.SIGTERM, consumer.stop)
            await consumer.run()

    Args:
        client: The queue; opened by ``run`` when it is not open yet (and then closed again).
        handler: Called once per received message.
        concurrency: Handlers running at the same time (at most this many messages are held).
        batch_size: Messages per receive call (1-10).
        wait_time: Long-poll seconds per receive (1-20).
        visibility_timeout: Seconds each message stays hidden per receive and per extension.
        heartbeat_interval: Seconds between visibility extensions of a running handler
            (default: a third of ``visibility_timeout``; 0 disables extensions).
        failure_visibility: After a handler failure, make the message visible again after this
            many seconds (None: wait out the remaining visibility timeout).
        shutdown_timeout: Seconds ``stop`` lets in-flight handlers finish before cancelling them.
        poll_retry: Backoff between failed receive calls (default 0.2 s doubling to 10 s).
    """

    def __init__(
        self,
        client: SqsClient,
        handler: Handler,
        *,
        concurrency: int = 10,
        batch_size: int = 10,
        wait_time: int = 20,
        visibility_timeout: int = 30,
        heartbeat_interval: float | None = None,
        failure_visibility: int | None = None,
        shutdown_timeout: float = 30.0,
        poll_retry: RetryPolicy | None = None,
    ) -> None:
        if concurrency < 1:
            raise AwsConfigurationError(f"concurrency must be >= 1, got {concurrency}")
        if not 1 <= batch_size <= 10:
            raise AwsConfigurationError(f"batch_size must be between 1 and 10, got {batch_size}")
        if not 0 <= wait_time <= 20:
            raise AwsConfigurationError(f"wait_time must be between 0 and 20, got {wait_time}")
        if visibility_timeout < 1:
            raise AwsConfigurationError(f"visibility_timeout must be >= 1, got {visibility_timeout}")
        if failure_visibility is not None and not 0 <= failure_visibility <= 43200:
            raise AwsConfigurationError(
                f"failure_visibility must be between 0 and 43200, got {failure_visibility}"
            )
        if shutdown_timeout < 0:
            raise AwsConfigurationError(f"shutdown_timeout must be >= 0, got {shutdown_timeout}")
        interval = visibility_timeout / 3 if heartbeat_interval is None else heartbeat_interval
        if interval < 0 or interval >= visibility_timeout:
            raise AwsConfigurationError("heartbeat_interval must be >= 0 and below visibility_timeout")
        self.client = client
        self.handler = handler
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.wait_time = wait_time
        self.visibility_timeout = visibility_timeout
        self.heartbeat_interval = interval
        self.failure_visibility = failure_visibility
        self.shutdown_timeout = shutdown_timeout
        self.poll_retry = poll_retry or RetryPolicy(attempts=1_000_000, initial_wait=0.2, max_wait=10.0)
        self.stats = ConsumerStats()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._running = False

    @property
    def running(self) -> bool:
        """Whether ``run`` is polling (False once ``stop`` was requested)."""
        return self._running and not self._stop.is_set()

    @property
    def in_flight(self) -> int:
        """Handlers running now."""
        return len(self._tasks)

    def stop(self) -> None:
        """Ask ``run`` to stop polling and finish; safe from signal handlers and other tasks."""
        self._stop.set()

    async def start(self) -> None:
        """Run the consumer in a background task (see :meth:`shutdown`)."""
        if self._runner is None or self._runner.done():
            self._stop.clear()
            self._runner = spawn(self.run(), name="sqs-consumer")

    async def shutdown(self) -> None:
        """Stop, wait for the background task started by :meth:`start`, and re-raise its error."""
        self.stop()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner

    async def __aenter__(self) -> SqsConsumer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def run(self) -> None:
        """Poll and dispatch until :meth:`stop`; then drain in-flight handlers.

        Raises:
            QueueNotFoundError, AccessDeniedError, AwsConfigurationError: Errors that retrying cannot
                fix stop the consumer (after draining). Other receive errors are logged and retried.
        """
        opened = not self.client.is_open
        if opened:
            await self.client.open()
        self._running = True
        try:
            await self._poll()
        finally:
            self._running = False
            try:
                await self._drain()
            finally:
                if opened:
                    await self.client.close()

    async def _until_stop(self, coro: Coroutine[Any, Any, _T]) -> _T | object:
        """Await ``coro`` unless ``stop`` comes first (then cancel it and return ``_STOPPED``)."""
        task = asyncio.ensure_future(coro)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            return _STOPPED
        return task.result()

    async def _poll(self) -> None:
        failures = 0
        while not self._stop.is_set():
            free = self.concurrency - len(self._tasks)
            if free <= 0:
                await self._until_stop(asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED))
                continue
            try:
                messages = await self._until_stop(
                    self.client.receive(
                        max_messages=min(free, self.batch_size),
                        wait_time=self.wait_time,
                        visibility_timeout=self.visibility_timeout,
                    )
                )
            except CALLER_ERRORS:
                raise
            except AwsError as exc:
                failures += 1
                delay = self.poll_retry.backoff(failures)
                _log.warning("receive failed (%s); retrying in %.2fs", exc, delay)
                await self._until_stop(sleep(delay))
                continue
            if messages is _STOPPED or not isinstance(messages, list):
                break
            failures = 0
            for message in messages:
                self.stats.received += 1
                task = asyncio.get_running_loop().create_task(
                    self._process(message), name=f"sqs:{message.message_id}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        _log.info("waiting up to %.1fs for %d in-flight messages", self.shutdown_timeout, len(self._tasks))
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.shutdown_timeout)
        if pending:
            _log.warning(
                "cancelling %d handlers still running at shutdown; their messages stay queued", len(pending)
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _process(self, message: Message) -> None:
        with extract_context(message.carrier()):
            attrs = {"messaging.system": "aws_sqs", "messaging.message.id": message.message_id}
            async with span("aws.sqs.process", **attrs):
                await self._handle(message)

    async def _handle(self, message: Message) -> None:
        finished = asyncio.Event()
        heartbeat = (
            asyncio.ensure_future(self._heartbeat(message, finished)) if self.heartbeat_interval else None
        )
        try:
            await self.handler(message)
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            _log.warning("handler cancelled; message %s left for redelivery", message.message_id)
            raise
        except Exception:
            self.stats.failed += 1
            _log.exception(
                "handler failed; message %s left for redelivery (receive count %d)",
                message.message_id,
                message.receive_count,
            )
            await self._after_failure(message)
            return
        finally:
            finished.set()
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
        self.stats.succeeded += 1
        try:
            await self.client.delete(message)
        except AwsError as exc:
            _log.warning("could not delete message %s (it will be redelivered): %s", message.message_id, exc)
            return
        self.stats.deleted += 1

    async def _after_failure(self, message: Message) -> None:
        if self.failure_visibility is None:
            return
        try:
            await self.client.change_visibility(message, self.failure_visibility)
        except AwsError as exc:
            _log.warning("could not reset visibility of message %s: %s", message.message_id, exc)

    async def _heartbeat(self, message: Message, finished: asyncio.Event) -> None:
        while not finished.is_set():
            try:
                await with_timeout(finished.wait(), self.heartbeat_interval)
            except TimeoutError:
                try:
                    await self.client.change_visibility(message, self.visibility_timeout)
                except AwsError as exc:
                    _log.warning("could not extend visibility of message %s: %s", message.message_id, exc)
                else:
                    self.stats.extended += 1
