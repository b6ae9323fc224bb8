"""Acknowledgements of the consumer: deletes gathered into DeleteMessageBatch calls, without waiting.

The first delete goes out at once, alone; the deletes that arrive while a call is in flight are sent
together in the next one (up to 10 per call). Handlers that finish together so share one request
instead of ten, and no delete ever waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
import collections

from internal_aws.sqs._client import MAX_BATCH, SqsClient
from internal_aws.sqs._types import Message
from internal_base.resilience import Backoff, sleep

__all__ = ["DeleteBatcher"]

_Entry = tuple[Message, "asyncio.Future[str | None]"]


class DeleteBatcher:
    """Deletes messages for a consumer, batching the ones that are ready at the same time.

    Args:
        client: The queue.
        attempts: Calls per entry that failed for a reason other than the request itself
            (connection, throttling, server error), the first included.
        backoff: Waits between those calls.
        concurrency: The consumer's concurrency; one call may be in flight per 10 handlers.
    """

    def __init__(self, client: SqsClient, *, attempts: int, backoff: Backoff, concurrency: int) -> None:
        self._client = client
        self._attempts = attempts
        self._backoff = backoff
        self._max_calls = max(1, -(-concurrency // MAX_BATCH))
        self._pending: collections.deque[_Entry] = collections.deque()
        self._calls: set[asyncio.Task[None]] = set()

    async def delete(self, message: Message) -> str | None:
        """Delete ``message``; returns None when it was deleted, else why not (``"Code: message"``).

        Raises:
            Exception: Whatever the batch call raised that is not an ``AwsError``.
        """
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        if len(self._calls) < self._max_calls:
            task = asyncio.get_running_loop().create_task(self._flush(), name="sqs-delete-batch")
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        # Shielded: a handler cancelled at shutdown must not cancel the deletes of the others.
        return await asyncio.shield(future)

    async def wait_idle(self) -> None:
        """Wait until every delete handed over so far was sent."""
        while self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)

    async def _flush(self) -> None:
        while self._pending:
            batch = [self._pending.popleft() for _ in range(min(MAX_BATCH, len(self._pending)))]
            try:
                await self._send(batch)
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    async def _send(self, batch: list[_Entry]) -> None:
        for attempt in range(1, self._attempts + 1):
            result = await self._client.delete_batch([message for message, _ in batch])
            failures = {failure.id: failure for failure in result.failed}
            again: list[_Entry] = []
            for index, (message, future) in enumerate(batch):
                failure = failures.get(str(index))
                if failure is not None and not failure.sender_fault and attempt < self._attempts:
                    again.append((message, future))
                elif not future.done():
                    future.set_result(None if failure is None else f"{failure.code}: {failure.message}")
            if not again:
                return
            batch = again
            await sleep(self._backoff.delay(attempt))
