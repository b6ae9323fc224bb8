"""Publish transactional-outbox events to SQS (the publisher a relay such as internal_rdbms's calls).

Nothing here imports the relay's library: :class:`SqsOutboxPublisher` matches its ``OutboxPublisher``
protocol by shape (``async publish(events) -> Sequence[str]``), and any object with ``id``, ``topic``,
``payload`` and ``headers`` is an event (:class:`OutboxEventLike`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Protocol, Self
from urllib.parse import urlsplit

from opentelemetry import trace

from internal_aws._errors import AwsConfigurationError
from internal_aws._telemetry import STATE, links_of
from internal_aws.sqs._client import _CONTEXT_ORDER, MAX_ATTRIBUTES, SqsClient
from internal_aws.sqs._types import AttributeValue, OutgoingMessage
from internal_base.telemetry import extract_trace

__all__ = ["OUTBOX_ID_ATTRIBUTE", "OutboxEventLike", "PublishReport", "SqsOutboxPublisher"]

_log = logging.getLogger("internal_aws.sqs.outbox")

OUTBOX_ID_ATTRIBUTE: Final = "outbox-id"
"""Message attribute holding the event id (a consumer deduplicates on it)."""
# SQS: letters, digits, ``_-.``; no leading/trailing/double period; not ``AWS.``/``Amazon.``.
_ATTRIBUTE_NAME: Final = re.compile(r"(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}")
_RESERVED_PREFIXES: Final = ("aws.", "amazon.")
# Characters SQS accepts in message attribute values (and bodies).
_SQS_TEXT: Final = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
# MessageDeduplicationId and MessageGroupId: 1-128 printable ASCII characters.
_FIFO_ID: Final = re.compile(r"[!-~]{1,128}")
MAX_MESSAGE_BYTES: Final = 1024 * 1024
"""SQS's largest message (body and attributes): 1 MiB; a queue's ``MaximumMessageSize`` may be lower."""
_CONTEXT_NAMES: Final = tuple(name.lower() for name in _CONTEXT_ORDER)


class _Refused(ValueError):
    """An event that cannot become an SQS message (the reason is the message)."""


class OutboxEventLike(Protocol):
    """What the publisher reads of an event (``internal_rdbms.outbox.OutboxEvent`` has it).

    Attributes:
        id: Stable deduplication id, fixed when the event was recorded.
        topic: Destination chosen by the writer; the publisher maps it to a queue.
        payload: JSON-serialisable body.
        headers: Correlation id and W3C trace context captured when the event was recorded.
    """

    @property
    def id(self) -> str: ...

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> Mapping[str, Any]: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class PublishReport:
    """Outcome of :meth:`SqsOutboxPublisher.publish_report`.

    Attributes:
        published: Ids of the events SQS accepted, in the order given (each once).
        failed: Event id → why it was not published (unknown topic, payload not JSON, SQS error).
    """

    published: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _check_queue_url(topic: str, url: object) -> str:
    if not isinstance(topic, str) or not topic:
        raise AwsConfigurationError(f"outbox topics must be non-empty strings, got {topic!r}")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise AwsConfigurationError(
            f"the queue of outbox topic {topic!r} must be a queue URL (https://...), got {url!r}"
        )
    return url


def _usable_name(name: str) -> bool:
    return bool(_ATTRIBUTE_NAME.fullmatch(name)) and not name.lower().startswith(_RESERVED_PREFIXES)


def _rank(name: object) -> int:
    """Context headers first (correlation id, traceparent ...), in any case; the others keep their order."""
    lowered = name.lower() if isinstance(name, str) else None
    return _CONTEXT_NAMES.index(lowered) if lowered in _CONTEXT_NAMES else len(_CONTEXT_NAMES)


def _size(body: str, attributes: Mapping[str, AttributeValue]) -> int:
    """Bytes SQS counts against its message size limit: body, attribute names, types and values."""
    size = len(body.encode())
    for name, value in attributes.items():
        size += len(name.encode()) + len("String") + len(str(value).encode())
    return size


class SqsOutboxPublisher:
    """Sends outbox events to SQS queues chosen by topic; returns the ids SQS accepted.

    Each event becomes one message: the body is its payload as JSON; its ``headers`` (correlation
    id, ``traceparent``, ``tracestate``) become message attributes, so :class:`SqsConsumer` runs the
    handler in the context of the request that recorded the event; its id goes in the ``outbox-id``
    attribute and, on FIFO queues, is the ``MessageDeduplicationId`` (a republished event is
    dropped by SQS within its 5-minute window; consumers of standard queues deduplicate on
    ``outbox-id``). Messages go out 10 per call (at most 256 KiB).

    An event is not reported published, and is logged at ERROR, when its topic has no queue, its
    payload is not JSON-serialisable, its id (FIFO: or group id) is not one SQS accepts, or SQS
    rejected it; the others still go out. Nothing is raised for a single event (malformed ones
    included: headers that are not a mapping, a payload nested too deeply, a message over SQS's
    1 MiB): the relay keeps the failed ones pending and tries again. An id given twice in one call
    is sent once (its first copy). On FIFO queues a message of a group that failed at SQS holds
    back the later events of that group in the same call (reported ``HeldBack``), so the group's
    order survives the relay's retry. Only the event's own headers travel: the relay's current
    correlation id and trace context are not added to its messages.

    Cancelling ``publish`` mid-way raises ``CancelledError`` and reports nothing: events SQS had
    already accepted are published again by the relay's next attempt, with the same
    ``outbox-id`` (and FIFO deduplication id), which is what at-least-once delivery means here.

    Example::

        publisher = SqsOutboxPublisher({"orders": orders_queue_url}, settings=settings)
        async with publisher:
            relay = OutboxRelay(database, publisher)   # internal_rdbms.outbox
            ...

    Args:
        queues: Topic → queue URL. Events of other topics are refused.
        client: An existing :class:`SqsClient` to send with (not closed by the publisher); by
            default the publisher owns one built from ``**options``.
        group_id: FIFO queues: the ``MessageGroupId`` of an event (default: its topic, so the
            events of one topic keep their order).
        **options: :class:`SqsClient` options (``settings``, ``session``, ``credentials`` ...).

    Raises:
        AwsConfigurationError: No queues, a topic that is not a non-empty string, a queue that is not
            a URL, or both ``client`` and client options.
    """

    def __init__(
        self,
        queues: Mapping[str, str],
        *,
        client: SqsClient | None = None,
        group_id: Callable[[OutboxEventLike], str] | None = None,
        **options: Any,
    ) -> None:
        if not queues:
            raise AwsConfigurationError("SqsOutboxPublisher needs at least one topic → queue URL")
        self.queues = {topic: _check_queue_url(topic, url) for topic, url in queues.items()}
        if client is not None and options:
            raise AwsConfigurationError(f"pass client= or client options, not both ({', '.join(options)})")
        self._owned = client is None
        self.client = client if client is not None else SqsClient(**options)
        self.group_id = group_id

    def __repr__(self) -> str:
        return f"SqsOutboxPublisher(topics={sorted(self.queues)!r})"

    async def open(self) -> Self:
        """Open the client (idempotent)."""
        await self.client.open()
        return self

    async def aclose(self) -> None:
        """Close the client when the publisher owns it (idempotent)."""
        if self._owned:
            await self.client.aclose()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def publish(self, events: Sequence[OutboxEventLike]) -> list[str]:
        """Publish ``events``; return the ids SQS accepted (the relay marks only those sent).

        Raises:
            AwsError: The client is not open (use ``async with``).
        """
        return (await self.publish_report(events)).published

    async def publish_report(self, events: Sequence[OutboxEventLike]) -> PublishReport:
        """Publish ``events`` and say, per event, what happened (see :class:`PublishReport`)."""
        events = list(events)  # read once: an iterator would be empty when the ids are collected
        report = PublishReport()
        by_queue: dict[str, list[tuple[int, OutboxEventLike, OutgoingMessage]]] = {}
        queued: set[str] = set()
        for index, event in enumerate(events):
            if not isinstance(event.id, str) or not event.id:
                report.failed[str(event.id)] = "the event id must be a non-empty string"
                continue
            topic = event.topic
            url = self.queues.get(topic) if isinstance(topic, str) else None
            if url is None:
                known = ", ".join(sorted(self.queues))
                report.failed[event.id] = f"no queue for topic {topic!r} (known topics: {known})"
                continue
            if event.id in queued:
                _log.warning("outbox event %s given twice in one call: sent once (its first copy)", event.id)
                continue
            try:
                message = self._message(event, url, str(index))
            except _Refused as exc:
                report.failed[event.id] = str(exc)
                continue
            queued.add(event.id)
            by_queue.setdefault(url, []).append((index, event, message))
        accepted: set[int] = set()
        for url, entries in by_queue.items():
            links = links_of([_creation(event) for _, event, _ in entries]) if STATE.enabled else []
            result = await self.client._send_to(
                url, [message for _, _, message in entries], links, inherit_context=False
            )
            reasons = {failure.id: f"{failure.code}: {failure.message}" for failure in result.failed}
            for index, event, _ in entries:
                if str(index) in result.successful:
                    accepted.add(index)
                else:
                    report.failed.setdefault(event.id, reasons.get(str(index), "not accepted by SQS"))
        for index, event in enumerate(events):
            if index in accepted and event.id not in report.published:
                report.published.append(event.id)
        for event_id in report.published:  # one copy accepted is enough for an id given twice
            report.failed.pop(event_id, None)
        for event_id, reason in report.failed.items():
            _log.error("outbox event %s not published: %s", event_id, reason)
        return report

    def _message(self, event: OutboxEventLike, url: str, entry_id: str) -> OutgoingMessage:
        """The SQS message of ``event``.

        Raises:
            _Refused: The payload is not JSON, the headers are not a mapping, the message is over
                SQS's 1 MiB, or (FIFO) the id or group id is not one SQS accepts.
        """
        try:
            body = json.dumps(event.payload, separators=(",", ":"), allow_nan=False)
        except RecursionError:
            raise _Refused("payload is not JSON-serialisable: it is nested too deeply") from None
        except (TypeError, ValueError) as exc:
            raise _Refused(f"payload is not JSON-serialisable: {exc}") from None
        headers = event.headers
        if not isinstance(headers, Mapping):
            raise _Refused(f"headers must be a mapping of str to str, got {type(headers).__name__}")
        attributes: dict[str, AttributeValue] = {OUTBOX_ID_ATTRIBUTE: event.id}
        for name in sorted(headers, key=_rank):
            value = headers[name]
            if not isinstance(value, str) or not value:
                continue
            if isinstance(name, str) and name.lower() == OUTBOX_ID_ATTRIBUTE:
                continue
            usable = isinstance(name, str) and _usable_name(name) and _SQS_TEXT.fullmatch(value) is not None
            if not usable or len(attributes) >= MAX_ATTRIBUTES:
                _log.warning("outbox event %s: header %r cannot travel as an SQS attribute", event.id, name)
                continue
            attributes[name] = value
        size = _size(body, attributes)
        if size > MAX_MESSAGE_BYTES:
            raise _Refused(
                f"the message is {size} bytes; SQS accepts at most {MAX_MESSAGE_BYTES}"
                " (1 MiB, body and attributes)"
            )
        if not url.endswith(".fifo"):
            return OutgoingMessage(body, attributes, id=entry_id)
        if not _FIFO_ID.fullmatch(event.id):
            raise _Refused("the event id is not a FIFO deduplication id (1-128 printable ASCII characters)")
        try:
            group = self.group_id(event) if self.group_id is not None else event.topic
        except Exception as exc:
            raise _Refused(f"group_id failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(group, str) or not _FIFO_ID.fullmatch(group):
            raise _Refused(f"message group id {group!r} is not 1-128 printable ASCII characters")
        return OutgoingMessage(body, attributes, group_id=group, deduplication_id=event.id, id=entry_id)


def _creation(event: OutboxEventLike) -> trace.SpanContext:
    """The span context recorded with the event (invalid when it has none)."""
    return trace.get_current_span(extract_trace(dict(event.headers))).get_span_context()
