"""Async SQS client: send (with correlation/trace context), batches, receive, visibility, delete."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final

from opentelemetry.trace import Link
from opentelemetry.util.types import AttributeValue as SpanAttributeValue

from internal_aws._errors import (
    CALLER_ERRORS,
    AwsConfigurationError,
    AwsError,
    AwsNotFoundError,
    QueueNotFoundError,
)
from internal_aws._service import ServiceClient
from internal_aws._telemetry import MESSAGING_SYSTEM, STATE, producer_span, queue_name, record_sent
from internal_aws.sqs._types import (
    AttributeValue,
    BatchFailure,
    BatchResult,
    Message,
    OutgoingMessage,
    encode_attributes,
)
from internal_base.context import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, inject_context

__all__ = ["MAX_ATTRIBUTES", "MAX_BATCH", "MAX_BATCH_BYTES", "MessageRef", "SqsClient", "context_attributes"]

_log = logging.getLogger("internal_aws.sqs")

MAX_BATCH: Final = 10
"""Entries per SendMessageBatch / DeleteMessageBatch call."""
MAX_BATCH_BYTES: Final = 256 * 1024
"""Payload limit of one SendMessageBatch call (bodies + attributes)."""
MAX_ATTRIBUTES: Final = 10
"""Message attributes per message."""
_CONTEXT_ORDER: Final = (CORRELATION_ID_HEADER, "traceparent", REQUEST_ID_HEADER, "tracestate", "baggage")

MessageRef = Message | str
"""A received message or its receipt handle."""


def _handle(message: MessageRef) -> str:
    return message.receipt_handle if isinstance(message, Message) else message


def context_attributes(attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    """``attributes`` plus the current correlation id and W3C trace context, within SQS's limit of 10.

    The caller's attributes win on name clashes and take precedence for room; then the context keys
    in order: correlation id, traceparent, request id, tracestate, baggage.
    """
    carrier: dict[str, str] = {}
    inject_context(carrier)
    merged: dict[str, AttributeValue] = dict(attributes)
    present = {name.lower() for name in merged}
    for name in sorted(carrier, key=lambda key: _CONTEXT_ORDER.index(key) if key in _CONTEXT_ORDER else 99):
        value = carrier[name]
        if not value or name.lower() in present:
            continue
        if len(merged) >= MAX_ATTRIBUTES:
            _log.debug("no room for message attribute %s (SQS allows %d)", name, MAX_ATTRIBUTES)
            continue
        merged[name] = value
    return merged


def _entry_size(entry: Mapping[str, Any]) -> int:
    size = len(str(entry["MessageBody"]).encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(str(value["DataType"]).encode())
        payload = value.get("StringValue", value.get("BinaryValue", b""))
        size += len(payload.encode() if isinstance(payload, str) else payload)
    return size


def _chunks(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split into batches of at most 10 entries and 256 KiB."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = _entry_size(entry)
        if batch and (len(batch) == MAX_BATCH or size + entry_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry_size
    if batch:
        yield batch


class SqsClient(ServiceClient):
    """One SQS queue.

    Every message sent carries the current correlation id and W3C trace context as message
    attributes (``internal_base.context.inject_context``); :class:`SqsConsumer` restores them.

    Example::

        async with SqsClient(queue_name="jobs", settings=settings) as sqs:
            await sqs.send('{"job": 1}', attributes={"kind": "report"})
            for message in await sqs.receive(wait_time=10):
                ...
                await sqs.delete(message)

    Args:
        queue_url: The queue URL.
        queue_name: The queue name, resolved to its URL on first use (when no URL is given).
        **options: See :class:`~internal_aws._service.ServiceClient`.
    """

    service: ClassVar[str] = "sqs"
    not_found: ClassVar[type[AwsNotFoundError]] = QueueNotFoundError

    def __init__(
        self, *, queue_url: str | None = None, queue_name: str | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        self.queue_url = queue_url
        self.queue_name = queue_name

    def _span_attributes(self, params: Mapping[str, Any]) -> dict[str, SpanAttributeValue]:
        """``messaging.system`` and ``messaging.destination.name`` (the queue) of the call."""
        url = params.get("QueueUrl")
        if not isinstance(url, str):
            return {}
        return {"messaging.system": MESSAGING_SYSTEM, "messaging.destination.name": queue_name(url)}

    def health_check_name(self) -> str:
        """``aws.sqs:<queue name or url>``."""
        target = self.queue_name or self.queue_url
        return f"aws.sqs:{target}" if target else "aws.sqs"

    async def ping(self) -> None:
        """GetQueueAttributes on the queue (ListQueues without one)."""
        if self.queue_url or self.queue_name:
            await self.attributes("QueueArn")
        else:
            await self._call("list_queues", MaxResults=1)

    async def url(self) -> str:
        """The queue URL (resolved from ``queue_name`` once).

        Raises:
            QueueNotFoundError: No queue of that name.
            AwsConfigurationError: Neither queue_url nor queue_name was given.
        """
        if self.queue_url is None:
            if self.queue_name is None:
                raise AwsConfigurationError("no queue: pass queue_url= or queue_name= to SqsClient")
            response = await self._call("get_queue_url", QueueName=self.queue_name)
            self.queue_url = str(response["QueueUrl"])
        return self.queue_url

    # -- queues --------------------------------------------------------------------------------

    async def create_queue(
        self, name: str | None = None, *, attributes: Mapping[str, str] | None = None
    ) -> str:
        """Create a queue (idempotent for equal attributes); it becomes this client's queue if none is set.

        Args:
            name: Queue name (default: ``queue_name``); end it in ``.fifo`` for a FIFO queue.
            attributes: Queue attributes (``VisibilityTimeout``, ``RedrivePolicy`` ...), as strings.

        Returns:
            The queue URL.
        """
        chosen = name or self.queue_name
        if not chosen:
            raise AwsConfigurationError("create_queue needs a name")
        attrs = {str(k): str(v) for k, v in (attributes or {}).items()}
        if chosen.endswith(".fifo"):
            attrs.setdefault("FifoQueue", "true")
        response = await self._call("create_queue", QueueName=chosen, Attributes=attrs)
        url = str(response["QueueUrl"])
        if self.queue_url is None and (self.queue_name is None or self.queue_name == chosen):
            self.queue_url, self.queue_name = url, chosen
        return url

    async def delete_queue(self) -> None:
        """Delete this client's queue."""
        await self._call("delete_queue", QueueUrl=await self.url())

    async def purge(self) -> None:
        """Delete every message in the queue (SQS allows one purge per 60 s)."""
        await self._call("purge_queue", QueueUrl=await self.url())

    async def attributes(self, *names: str) -> dict[str, str]:
        """Queue attributes (all of them without ``names``), e.g. ``ApproximateNumberOfMessages``."""
        response = await self._call(
            "get_queue_attributes", QueueUrl=await self.url(), AttributeNames=list(names) or ["All"]
        )
        return {str(k): str(v) for k, v in response.get("Attributes", {}).items()}

    # -- sending -------------------------------------------------------------------------------

    def _entry(
        self, message: OutgoingMessage, entry_id: str | None = None, *, inherit_context: bool = True
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"MessageBody": message.body}
        if entry_id is not None:
            entry["Id"] = entry_id
        attributes = context_attributes(message.attributes) if inherit_context else message.attributes
        if attributes:
            entry["MessageAttributes"] = encode_attributes(attributes)
        if message.delay_seconds is not None:
            entry["DelaySeconds"] = message.delay_seconds
        if message.group_id is not None:
            entry["MessageGroupId"] = message.group_id
        if message.deduplication_id is not None:
            entry["MessageDeduplicationId"] = message.deduplication_id
        return entry

    async def send(
        self,
        body: str,
        *,
        attributes: Mapping[str, AttributeValue] | None = None,
        delay_seconds: int | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send one message with the current correlation and trace context.

        Returns:
            The SQS message id.
        """
        url = await self.url()
        message = OutgoingMessage(body, attributes or {}, delay_seconds, group_id, deduplication_id)
        with producer_span(url, 1) as current:
            # The entry is built inside the PRODUCER span: the message carries its context.
            response = await self._call("send_message", QueueUrl=url, **self._entry(message))
            message_id = str(response["MessageId"])
            if current is not None:
                current.set_attribute("messaging.message.id", message_id)
                record_sent(url, 1, {})
        return message_id

    async def send_batch(self, messages: Iterable[str | OutgoingMessage]) -> BatchResult:
        """Send any number of messages, 10 (and at most 256 KiB) per call.

        Failures are reported per entry, never raised: entries the service rejected, and every entry
        of a call that failed as a whole (with that error's code). Use ``result.raise_for_failures()``
        to turn them into a ``BatchError``. FIFO order is kept: once a message of a group failed,
        the later messages of that group are not sent (code ``HeldBack``).

        Returns:
            Entry id (the message's ``id``, else its position as a string) → message id, and failures.
        """
        return await self._send_to(await self.url(), messages)

    async def _send_to(
        self,
        url: str,
        messages: Iterable[str | OutgoingMessage],
        links: Sequence[Link] = (),
        *,
        inherit_context: bool = True,
    ) -> BatchResult:
        """``send_batch`` to the queue at ``url``, in one PRODUCER span linked to ``links``.

        ``inherit_context=False`` sends each message's own attributes only: no current correlation
        id or trace context is added (an outbox event carries the context it was recorded in).
        """
        items = [m if isinstance(m, OutgoingMessage) else OutgoingMessage(m) for m in messages]
        ids = [m.id if m.id is not None else str(i) for i, m in enumerate(items)]
        if len(set(ids)) != len(ids):
            raise AwsConfigurationError("batch entry ids must be unique")
        result = BatchResult()
        with producer_span(url, len(items), links):
            entries = [
                self._entry(m, entry_id, inherit_context=inherit_context)
                for m, entry_id in zip(items, ids, strict=True)
            ]
            failed_groups: set[str] = set()
            for batch in _chunks(entries):
                await self._send_in_order(url, batch, result, failed_groups)
        if STATE.enabled:
            codes: dict[str, int] = {}
            for failure in result.failed:
                codes[failure.code] = codes.get(failure.code, 0) + 1
            record_sent(url, len(result.successful), codes)
        return result

    async def _send_in_order(
        self, url: str, batch: list[dict[str, Any]], result: BatchResult, failed_groups: set[str]
    ) -> None:
        """One SendMessageBatch; FIFO entries of a group that failed earlier are held back, not sent."""
        kept: list[dict[str, Any]] = []
        for entry in batch:
            group = entry.get("MessageGroupId")
            if group is not None and group in failed_groups:
                reason = f"not sent: held back behind a failed message of group {group!r} (FIFO order)"
                result.failed.append(BatchFailure(str(entry["Id"]), "HeldBack", reason))
            else:
                kept.append(entry)
        if not kept:
            return
        before = len(result.failed)
        await self._batch_call("send_message_batch", url, kept, result, "MessageId")
        group_of = {str(entry["Id"]): entry.get("MessageGroupId") for entry in kept}
        for failure in result.failed[before:]:
            group = group_of.get(failure.id)
            if group is not None:
                failed_groups.add(group)

    async def _batch_call(
        self, method: str, url: str, batch: list[dict[str, Any]], result: BatchResult, id_field: str
    ) -> None:
        try:
            response = await self._call(method, QueueUrl=url, Entries=batch)
        except AwsError as exc:
            _log.warning("%s of %d entries failed: %s", method, len(batch), exc)
            caller = isinstance(exc, CALLER_ERRORS)
            code = exc.code or type(exc).__name__
            result.failed.extend(BatchFailure(str(e["Id"]), code, str(exc), caller) for e in batch)
            return
        for ok in response.get("Successful", []):
            result.successful[str(ok["Id"])] = str(ok.get(id_field, ok["Id"]))
        for bad in response.get("Failed", []):
            result.failed.append(
                BatchFailure(
                    id=str(bad["Id"]),
                    code=str(bad.get("Code", "")),
                    message=str(bad.get("Message", "")),
                    sender_fault=bool(bad.get("SenderFault", False)),
                )
            )

    # -- receiving -----------------------------------------------------------------------------

    async def receive(
        self,
        *,
        max_messages: int = 10,
        wait_time: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[Message]:
        """Receive up to ``max_messages`` (1-10), long-polling up to ``wait_time`` seconds (0-20).

        Args:
            max_messages: Upper bound of messages returned.
            wait_time: Long-poll seconds; the call returns as soon as a message arrives.
            visibility_timeout: Seconds the messages stay hidden (default: the queue's setting).
        """
        params: dict[str, Any] = {
            "QueueUrl": await self.url(),
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_time,
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
        }
        if visibility_timeout is not None:
            params["VisibilityTimeout"] = visibility_timeout
        # The long poll waits on purpose: it gets wait_time on top of the policy's timeout.
        response = await self._call("receive_message", patience=wait_time, **params)
        url = params["QueueUrl"]
        return [Message.from_response(raw, url) for raw in response.get("Messages", [])]

    async def delete(self, message: MessageRef) -> None:
        """Delete a received message (acknowledge it)."""
        await self._call("delete_message", QueueUrl=await self.url(), ReceiptHandle=_handle(message))

    async def delete_batch(self, messages: Sequence[MessageRef]) -> BatchResult:
        """Delete many received messages, 10 per call; failures are reported per entry.

        Returns:
            Entry ids are positions in ``messages`` as strings.
        """
        url = await self.url()
        result = BatchResult()
        entries = [{"Id": str(i), "ReceiptHandle": _handle(m)} for i, m in enumerate(messages)]
        for start in range(0, len(entries), MAX_BATCH):
            await self._batch_call(
                "delete_message_batch", url, entries[start : start + MAX_BATCH], result, "Id"
            )
        return result

    async def change_visibility(self, message: MessageRef, timeout: int) -> None:
        """Hide the message for ``timeout`` more seconds from now (0: make it visible again at once)."""
        await self._call(
            "change_message_visibility",
            QueueUrl=await self.url(),
            ReceiptHandle=_handle(message),
            VisibilityTimeout=timeout,
        )
