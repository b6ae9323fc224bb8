"""SqsOutboxPublisher without a network: configuration errors, message building, refused events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest

from internal_aws import AwsConfigurationError, AwsSettings, SqsClient, SqsOutboxPublisher
from internal_aws.sqs.outbox import OUTBOX_ID_ATTRIBUTE

URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
FIFO_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"


@dataclass(frozen=True)
class Event:
    """The contract's OutboxEvent shape."""

    id: str
    topic: str
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class OutboxPublisher(Protocol):
    """The contract's publisher protocol (internal_rdbms.outbox), restated: aws must not import it."""

    async def publish(self, events: Sequence[Event]) -> Sequence[str]: ...


def settings() -> AwsSettings:
    """Offline settings (no health registry)."""
    return AwsSettings(region="eu-west-1", health_check=False)


def test_matches_the_publisher_protocol_structurally() -> None:
    """mypy checks the assignment; at runtime publish is a coroutine function taking events."""
    publisher: OutboxPublisher = SqsOutboxPublisher({"orders": URL}, settings=settings())
    assert callable(publisher.publish)


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ({}, "at least one topic"),
        ({"orders": "orders"}, "outbox topic 'orders' must be a queue URL"),
        ({"orders": "ftp://host/q"}, "outbox topic 'orders' must be a queue URL"),
        ({"": URL}, "non-empty strings"),
        ({"orders": 5}, "outbox topic 'orders' must be a queue URL"),
    ],
)
def test_bad_queue_maps_are_refused(queues: dict[str, Any], message: str) -> None:
    """Every wrong mapping fails at construction with the topic named."""
    with pytest.raises(AwsConfigurationError, match=message):
        SqsOutboxPublisher(queues, settings=settings())


def test_a_client_and_client_options_together_are_refused() -> None:
    """client= and settings= cannot both be given."""
    with pytest.raises(AwsConfigurationError, match="not both"):
        SqsOutboxPublisher({"orders": URL}, client=SqsClient(settings=settings()), settings=settings())


def test_repr_names_the_topics_only() -> None:
    """The repr shows topics, no URL or credentials."""
    assert repr(SqsOutboxPublisher({"b": URL, "a": URL}, settings=settings())) == (
        "SqsOutboxPublisher(topics=['a', 'b'])"
    )


async def test_refused_events_never_reach_the_client(caplog: pytest.LogCaptureFixture) -> None:
    """Unknown topic, non-JSON payload and empty id are failures named per event, logged at ERROR."""
    publisher = SqsOutboxPublisher({"orders": URL}, settings=settings())
    events = [
        Event("a1", "invoices", {}),
        Event("a2", "orders", {"x": float("nan")}),
        Event("a3", "orders", {"when": datetime.now(UTC)}),
        Event("", "orders", {}),
    ]
    caplog.set_level(logging.ERROR, logger="internal_aws.sqs.outbox")
    report = await publisher.publish_report(events)  # the client is not open: nothing was sent
    assert report.published == []
    assert report.failed == {
        "a1": "no queue for topic 'invoices' (known topics: orders)",
        "a2": report.failed["a2"],
        "a3": report.failed["a3"],
        "": "the event id must be a non-empty string",
    }
    assert report.failed["a2"].startswith("payload is not JSON-serialisable")
    assert "datetime" in report.failed["a3"]
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 4
    assert await publisher.publish(events) == []


def test_standard_queue_message() -> None:
    """Body is compact JSON; outbox-id first, then the context headers; no FIFO fields."""
    publisher = SqsOutboxPublisher({"orders": URL}, settings=settings())
    headers = {"tracestate": "k=v", "X-Custom": "c", "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    message = publisher._message(Event("e1", "orders", {"a": 1, "b": "é"}, headers), URL, "0")
    assert message.body == '{"a":1,"b":"\\u00e9"}'
    assert list(message.attributes) == [OUTBOX_ID_ATTRIBUTE, "traceparent", "tracestate", "X-Custom"]
    assert message.attributes[OUTBOX_ID_ATTRIBUTE] == "e1"
    assert message.group_id is None
    assert message.deduplication_id is None
    assert message.id == "0"


def test_fifo_queue_message_uses_the_event_id_for_deduplication() -> None:
    """FIFO: MessageDeduplicationId = event id, MessageGroupId = topic or the group_id callable."""
    by_topic = SqsOutboxPublisher({"orders": FIFO_URL}, settings=settings())
    message = by_topic._message(Event("e2", "orders", {}), FIFO_URL, "3")
    assert (message.deduplication_id, message.group_id) == ("e2", "orders")
    by_customer = SqsOutboxPublisher(
        {"orders": FIFO_URL}, settings=settings(), group_id=lambda event: str(event.payload["customer"])
    )
    message = by_customer._message(Event("e3", "orders", {"customer": 7}), FIFO_URL, "0")
    assert (message.deduplication_id, message.group_id) == ("e3", "7")


def test_headers_that_cannot_be_attributes_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """Invalid or reserved names, empty values and anything past SQS's 10 attributes are left out."""
    publisher = SqsOutboxPublisher({"orders": URL}, settings=settings())
    headers = {
        "bad name": "x",
        "AWS.Trace": "x",
        ".dot": "x",
        "a..b": "x",
        "empty": "",
        "Outbox-Id": "forged",
        **{f"h{i}": str(i) for i in range(12)},
    }
    caplog.set_level(logging.WARNING, logger="internal_aws.sqs.outbox")
    message = publisher._message(Event("e4", "orders", {}, headers), URL, "0")
    assert message.attributes == {OUTBOX_ID_ATTRIBUTE: "e4", **{f"h{i}": str(i) for i in range(9)}}
    dropped = {r.getMessage().split("'")[1] for r in caplog.records}
    assert dropped == {"bad name", "AWS.Trace", ".dot", "a..b", "h9", "h10", "h11"}


def test_header_values_sqs_cannot_carry_are_dropped() -> None:
    """A value with a character SQS refuses (a NUL, a lone surrogate) would fail the whole entry."""
    publisher = SqsOutboxPublisher({"orders": URL}, settings=settings())
    headers = {"nul": "a\x00b", "surrogate": "\ud800", "fine": "tab\tand ünïcode 🙂"}
    message = publisher._message(Event("e5", "orders", {}, headers), URL, "0")
    assert message.attributes == {OUTBOX_ID_ATTRIBUTE: "e5", "fine": "tab\tand ünïcode 🙂"}


def _failing_group(event: Any) -> str:
    raise KeyError("customer")


@pytest.mark.parametrize(
    ("event", "group_id", "reason"),
    [
        (Event("x" * 129, "orders", {}), None, "not a FIFO deduplication id"),
        (Event("has space", "orders", {}), None, "not a FIFO deduplication id"),
        (Event("e6", "orders", {}), _failing_group, "group_id failed: KeyError"),
        (Event("e7", "orders", {}), lambda event: "", "message group id '' is not"),
        (Event("e8", "orders", {}), lambda event: 7, "message group id 7 is not"),
    ],
)
async def test_fifo_events_sqs_would_refuse_are_failures(event: Event, group_id: Any, reason: str) -> None:
    """FIFO ids SQS rejects, and a group_id callable that raises, fail that event only, by name."""
    publisher = SqsOutboxPublisher({"orders": FIFO_URL}, settings=settings(), group_id=group_id)
    report = await publisher.publish_report([event])
    assert report.published == []
    assert reason in report.failed[event.id]


def test_context_headers_keep_their_room_whatever_the_case_of_their_names() -> None:
    """Past SQS's 10 attributes, correlation and trace headers win even when spelled in another case."""
    publisher = SqsOutboxPublisher({"orders": URL}, settings=settings())
    headers = {f"h{i}": str(i) for i in range(12)}
    headers |= {"x-correlation-id": "corr-1", "TRACEPARENT": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    message = publisher._message(Event("e9", "orders", {}, headers), URL, "0")
    assert list(message.attributes)[:3] == [OUTBOX_ID_ATTRIBUTE, "x-correlation-id", "TRACEPARENT"]
    assert len(message.attributes) == 10


def _nested(depth: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(depth):
        inner: list[Any] = []
        current.append(inner)
        current = inner
    return root


@dataclass(frozen=True)
class LooseEvent:
    """An event as a buggy or hostile writer might hand it over (any types)."""

    id: Any
    topic: Any
    payload: Any
    headers: Any = field(default_factory=dict)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (LooseEvent("deep", "orders", {"d": _nested(100_000)}), "payload is not JSON-serialisable"),
        (LooseEvent("no-headers", "orders", {}, None), "headers must be a mapping"),
        (LooseEvent("list-topic", ["orders"], {}), "no queue for topic ['orders']"),
        (LooseEvent("huge", "orders", {"blob": "x" * (1024 * 1024)}), "SQS accepts at most 1048576"),
    ],
    ids=["nested-too-deep", "headers-none", "unhashable-topic", "over-1-MiB"],
)
async def test_a_malformed_event_fails_alone_and_never_breaks_the_call(
    event: LooseEvent, reason: str
) -> None:
    """One bad event is a named failure; publish() itself does not raise for it."""
    publisher = SqsOutboxPublisher({"orders": URL}, settings=settings())
    report = await publisher.publish_report([event])
    assert report.published == []
    assert list(report.failed) == [event.id]
    assert reason in report.failed[event.id]


def test_header_names_that_are_not_strings_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """A non-str header name is left out with a warning, like any name SQS cannot carry."""
    publisher = SqsOutboxPublisher({"orders": URL}, settings=settings())
    caplog.set_level(logging.WARNING, logger="internal_aws.sqs.outbox")
    event = LooseEvent("e10", "orders", {}, {1: "one", "ok": "v"})
    message = publisher._message(event, URL, "0")
    assert message.attributes == {OUTBOX_ID_ATTRIBUTE: "e10", "ok": "v"}
    assert any("1" in r.getMessage() for r in caplog.records)
