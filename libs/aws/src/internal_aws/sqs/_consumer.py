"""Long-polling SQS consumer: bounded concurrency, at-least-once delivery, graceful shutdown.

Guarantees:

* A message is deleted only after its handler returned without raising; a failing handler leaves
  it for redelivery after the visibility timeout (and so, past ``maxReceiveCount``, for the DLQ).
* While a handler runs longer than the visibility timeout allows, the message's visibility is
  extended every ``heartbeat_interval`` seconds, so no other consumer receives it meanwhile.
* ``stop()`` stops polling at once, lets in-flight handlers finish within ``shutdown_timeout`` and
  then cancels the rest, leaving their messages in the queue: nothing received is ever dropped
  unprocessed and deleted. A long poll cut short by ``stop()`` may still take messages on the
  server side (SQS answers into the closed connection): they stay hidden for
  ``visibility_timeout`` and are then delivered again.
* Each handler runs inside ``internal_base.context.extract_context`` of the message's attributes,
  so its logs carry the producer's correlation id and its spans join the producer's trace.
* It never dies silently. Transient receive errors (connection, timeout, throttling) are retried
  with jittered backoff, bounded by ``poll_retry``'s attempts and total time; an error retrying
  cannot fix (queue deleted, access denied) or an exhausted retry budget stops it: the error is
  logged at ERROR, the health check turns unhealthy, ``run`` raises it and ``async with consumer``
  interrupts its block with it at once.
* Its health check (readiness and liveness) tells the truth: degraded after a failed receive,
  unhealthy after ``unhealthy_after`` consecutive failed receives (the loop keeps retrying; the
  next successful receive makes it healthy again), and unhealthy once the loop stopped for any
  reason but ``stop()`` (an error, or the task running it cancelled: logged at ERROR too).
* ``async with consumer`` runs it in the background (``start``) and closes it on exit (``aclose``:
  stop, drain, re-raise the error that stopped it; ``shutdown`` is an alias).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from internal_aws._errors import CALLER_ERRORS, RETRYABLE_ERRORS, AwsConfigurationError, AwsError
from internal_aws._telemetry import (
    STATE,
    error_type,
    lag_seconds,
    links_of,
    messaging_attributes,
    queue_name,
    start_span,
)
from internal_aws.sqs._acks import DeleteBatcher
from internal_aws.sqs._client import SqsClient
from internal_aws.sqs._types import Message
from internal_base.context import extract_context, spawn
from internal_base.health import HealthRegistry, HealthStatus
from internal_base.resilience import Backoff, RetryPolicy, with_timeout

__all__ = ["ConsumerStats", "Handler", "SqsConsumer"]

_log = logging.getLogger("internal_aws.sqs.consumer")
_T = TypeVar("_T")
_STOPPED: Final = object()

Handler = Callable[[Message], Awaitable[object]]
"""``async def handler(message) -> None``: raise to leave the message for redelivery."""

_POLL_RETRY: Final = RetryPolicy(
    attempts=10,
    wait=Backoff(initial=0.2, maximum=10.0),
    total_timeout=120.0,
    retry_on=RETRYABLE_ERRORS,
    name="aws.sqs.consumer.receive",
)
"""Default backoff of failed receive calls: up to 10 attempts within 2 minutes, then the consumer stops."""
_DELETE_ATTEMPTS: Final = 3
"""DeleteMessageBatch calls per message whose entry failed for a reason other than the request."""
_DELETE_BACKOFF: Final = Backoff(initial=0.1, maximum=1.0)


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
        delete_failed: Messages whose handler succeeded but whose delete failed (they come back).
        extend_failed: Visibility extensions that failed (the handler kept running).
        receive_failed: Receive calls that failed (retried or, at last, fatal).
    """

    received: int = 0
    succeeded: int = 0
    failed: int = 0
    deleted: int = 0
    extended: int = 0
    cancelled: int = 0
    delete_failed: int = 0
    extend_failed: int = 0
    receive_failed: int = 0


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
        poll_retry: Retry of failed receive calls (default: 0.2 s doubling to
            10 s, at most 10 attempts within 2 minutes). Errors outside its ``retry_on``, and the
            last one once it gives up, stop the consumer.
        health_registry: Registry for the consumer's health check ``aws.sqs.consumer:<queue>`` (readiness
            and liveness); default: the client's registry, none when the client has none.
        unhealthy_after: Consecutive failed receive calls after which the check reports UNHEALTHY
            (before: DEGRADED); with the default ``poll_retry`` five failures span about 3 seconds.

    Raises:
        AwsConfigurationError: An option out of its range (named in the message).
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
        health_registry: HealthRegistry | None = None,
        unhealthy_after: int = 5,
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
        if isinstance(unhealthy_after, bool) or not isinstance(unhealthy_after, int) or unhealthy_after < 1:
            raise AwsConfigurationError(f"unhealthy_after must be an int >= 1, got {unhealthy_after!r}")
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
        self.poll_retry = poll_retry or _POLL_RETRY
        self.unhealthy_after = unhealthy_after
        self.stats = ConsumerStats()
        self._health = health_registry if health_registry is not None else client.health_registry
        self._health_name = f"aws.sqs.consumer:{client.queue_name or client.queue_url or '?'}"
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._running = False
        self._active = False  # from run()'s start to the end of its drain
        self._error: BaseException | None = None
        self._receive_errors = 0
        self._last_receive_error: AwsError | None = None
        self._acks = DeleteBatcher(
            client, attempts=_DELETE_ATTEMPTS, backoff=_DELETE_BACKOFF, concurrency=concurrency
        )
        self._owner: asyncio.Task[Any] | None = None
        self._owner_cancelled = False

    @property
    def running(self) -> bool:
        """Whether ``run`` is polling (False once ``stop`` was requested)."""
        return self._running and not self._stop.is_set()

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the last run, or None."""
        return self._error

    @property
    def in_flight(self) -> int:
        """Handlers running now."""
        return len(self._tasks)

    def stop(self) -> None:
        """Ask ``run`` to stop polling and finish; safe from signal handlers and other tasks."""
        self._stop.set()

    async def start(self) -> None:
        """Run the consumer in a background task (see :meth:`aclose`).

        A no-op while it runs. Called while a previous run is stopping (after :meth:`stop` or
        during :meth:`aclose`), it first waits for that run to finish draining, then starts anew:
        never two loops at once.

        Raises:
            AwsConfigurationError: Called from inside a handler of the run that is stopping.
        """
        runner = self._runner
        if runner is not None and not runner.done():
            if not self._stop.is_set():
                return
            if asyncio.current_task() in self._tasks:
                raise AwsConfigurationError(
                    "start() from inside a handler while the consumer is stopping would wait for that"
                    " handler to finish; restart the consumer from outside its handlers"
                )
            await asyncio.wait({runner})  # its error, if any, is for the aclose() waiting on it
            if self._runner is not runner and self._runner is not None and not self._runner.done():
                return  # another start() won the race while this one waited
        self._stop.clear()
        self._runner = spawn(self.run(), name="sqs-consumer")

    async def aclose(self) -> None:
        """Stop, wait for the background task started by :meth:`start`, and re-raise its error.

        In-flight handlers get ``shutdown_timeout`` seconds to finish, as with :meth:`stop`.
        Concurrent calls all return once the consumer has stopped; a call after that returns at
        once. Called from inside a handler it only stops the consumer (the run cannot finish
        before that handler returns, so waiting for it would deadlock).
        """
        self.stop()
        runner = self._runner
        if runner is None:
            return
        if asyncio.current_task() in self._tasks:
            return
        try:
            await runner
        finally:
            if self._runner is runner and runner.done():
                self._runner = None

    async def shutdown(self) -> None:
        """Alias of :meth:`aclose` (the name before the family's ``aclose`` convention)."""
        await self.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        assert self._runner is not None
        self._owner = asyncio.current_task()
        self._owner_cancelled = False
        self._runner.add_done_callback(self._interrupt_owner)
        return self

    def _interrupt_owner(self, runner: asyncio.Task[None]) -> None:
        """The background task failed: cancel the ``async with`` block so that it learns at once."""
        owner = self._owner
        if owner is None or runner.cancelled() or runner.exception() is None or owner.done():
            return
        self._owner_cancelled = True
        owner.cancel(msg="the SQS consumer stopped with an error")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner = None  # from here on a failure is reported by aclose(), not by cancelling
        interrupted, self._owner_cancelled = self._owner_cancelled, False
        if interrupted:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        try:
            await self.aclose()
        except Exception:
            if exc is not None and not interrupted:
                return  # the block's own error wins; the consumer's was logged at ERROR
            raise

    async def run(self) -> None:
        """Poll and dispatch until :meth:`stop`; then drain in-flight handlers.

        Raises:
            QueueNotFoundError, AccessDeniedError, AwsConfigurationError: Errors retrying cannot fix
                stop the consumer (after draining), as does the last receive error once
                ``poll_retry`` gives up. Each is logged at ERROR first.
        """
        if self._active:
            raise AwsConfigurationError(
                "this SqsConsumer is already running; stop it (aclose) before running it again"
            )
        self._active = True
        opened = not self.client.is_open
        self._error = None
        self._receive_errors = 0
        self._last_receive_error = None
        if self._health is not None:
            self._health.register(self._health_name, self._check, liveness=True)
        self._running = True
        try:
            if opened:
                await self.client.open()
            await self._poll()
        except Exception as exc:
            self._error = exc
            _log.error(
                "SQS consumer of %s stopped: %s", self._health_name.partition(":")[2], exc, exc_info=exc
            )
            raise
        except BaseException as exc:  # cancelled (or interrupted) without stop(): not a clean stop
            if not self._stop.is_set():
                self._error = exc
                _log.error(
                    "SQS consumer of %s stopped unexpectedly: %s without stop()",
                    self._health_name.partition(":")[2],
                    "cancelled" if isinstance(exc, asyncio.CancelledError) else type(exc).__name__,
                )
            raise
        finally:
            self._running = False
            try:
                await self._drain()
            finally:
                if self._health is not None and self._error is None:
                    self._health.unregister(self._health_name, self._check)
                try:
                    if opened:
                        await self.client.aclose()
                finally:
                    self._active = False

    async def _check(self) -> object:
        """Health: unhealthy once stopped unexpectedly or after ``unhealthy_after`` failed receives."""
        if isinstance(self._error, asyncio.CancelledError):
            raise AwsError("the consumer stopped: its task was cancelled without stop()")
        if self._error is not None:
            raise AwsError(f"the consumer stopped: {type(self._error).__name__}: {self._error}")
        if self._receive_errors >= self.unhealthy_after:
            last = self._last_receive_error
            raise AwsError(
                f"{self._receive_errors} consecutive receive calls failed"
                f" (unhealthy_after={self.unhealthy_after}); last: {type(last).__name__}: {last}"
            )
        if self._receive_errors:
            return HealthStatus.DEGRADED
        return {"received": self.stats.received, "in_flight": self.in_flight}

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
        while not self._stop.is_set():
            free = self.concurrency - len(self._tasks)
            if free <= 0:
                await self._until_stop(asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED))
                continue
            messages = await self._until_stop(self.poll_retry.call(self._receive, min(free, self.batch_size)))
            if messages is _STOPPED or not isinstance(messages, list):
                break
            if messages and STATE.enabled and STATE.consumed is not None:
                attributes = messaging_attributes(messages[0].queue_url, "receive")
                del attributes["messaging.operation.type"]
                STATE.consumed.add(len(messages), attributes)
            for message in messages:
                self.stats.received += 1
                task = asyncio.get_running_loop().create_task(
                    self._process(message), name=f"sqs:{message.message_id}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _receive(self, count: int) -> list[Message]:
        """One receive call; counts failures for the health check (``poll_retry`` retries it)."""
        try:
            messages = await self.client.receive(
                max_messages=count, wait_time=self.wait_time, visibility_timeout=self.visibility_timeout
            )
        except AwsError as exc:
            self.stats.receive_failed += 1
            self._receive_errors += 1
            self._last_receive_error = exc
            raise
        self._receive_errors = 0
        self._last_receive_error = None
        return messages

    async def _drain(self) -> None:
        if self._tasks:
            count = len(self._tasks)
            _log.info("waiting up to %.1fs for %d in-flight messages", self.shutdown_timeout, count)
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.shutdown_timeout)
            if pending:
                _log.warning(
                    "cancelling %d handlers still running at shutdown; their messages stay queued",
                    len(pending),
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        await self._acks.wait_idle()  # deletes of handlers that succeeded are sent, not dropped

    async def _process(self, message: Message) -> None:
        try:
            with extract_context(message.carrier()):
                await self._handle(message)
        except Exception:  # a bug here must show up in the logs, not vanish with the task
            _log.exception(
                "processing message %s failed unexpectedly; it will be redelivered", message.message_id
            )

    async def _handle(self, message: Message) -> None:
        finished = asyncio.Event()
        heartbeat = (
            asyncio.ensure_future(self._heartbeat(message, finished)) if self.heartbeat_interval else None
        )
        try:
            if STATE.enabled:
                await self._observed(message)
            else:
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
            problem = await self._acks.delete(message)
        except AwsError as exc:
            problem = str(exc)
        if problem is not None:
            self.stats.delete_failed += 1
            _log.warning(
                "could not delete message %s after its handler succeeded; it will be redelivered: %s",
                message.message_id,
                problem,
            )
            return
        self.stats.deleted += 1

    async def _observed(self, message: Message) -> None:
        """Run the handler in a CONSUMER span ``process <queue>``, recording duration, outcome and lag.

        The span is the child of the message's creation context (restored by ``extract_context``:
        the producer's span) and links to it, as the messaging conventions ask of single-message
        processing; without a valid context in the message it starts a new trace.
        """
        attributes = messaging_attributes(message.queue_url, "process")
        del attributes["messaging.operation.type"]
        lag = lag_seconds(message.system_attributes.get("SentTimestamp"))
        if lag is not None and STATE.lag is not None:
            STATE.lag.record(lag, attributes)
        creation = trace.get_current_span().get_span_context()
        span_attributes = messaging_attributes(message.queue_url, "process")
        span_attributes["messaging.message.id"] = message.message_id
        outcome, failure = "success", None
        started = time.perf_counter()
        try:
            name = f"process {queue_name(message.queue_url)}"
            with start_span(name, SpanKind.CONSUMER, span_attributes, links_of([creation])) as current:
                try:
                    await self.handler(message)
                except Exception as exc:
                    current.set_attribute("error.type", error_type(exc))
                    raise
                except asyncio.CancelledError as exc:  # the SDK records Exceptions only
                    current.set_attribute("error.type", error_type(exc))
                    current.set_status(Status(StatusCode.ERROR, "the handler was cancelled"))
                    raise
        except asyncio.CancelledError as exc:
            outcome, failure = "cancelled", error_type(exc)
            raise
        except Exception as exc:
            outcome, failure = "failure", error_type(exc)
            raise
        finally:
            if failure is not None:
                attributes["error.type"] = failure
            if STATE.process_duration is not None:
                STATE.process_duration.record(time.perf_counter() - started, attributes)
            if STATE.processed is not None:
                STATE.processed.add(1, {**attributes, "outcome": outcome})

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
                    self.stats.extend_failed += 1
                    rejected = isinstance(exc, CALLER_ERRORS)
                    _log.warning(
                        "could not extend visibility of message %s (another consumer may receive it)%s: %s",
                        message.message_id,
                        "; no further extensions" if rejected else "",
                        exc,
                    )
                    if rejected:  # the handle was refused (expired, queue gone): retrying cannot help
                        return
                else:
                    self.stats.extended += 1
