"""SQS attribute encoding, context propagation, batching and consumer settings (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from internal_aws import AwsConfigurationError, AwsSettings, BatchError, SqsClient, SqsConsumer
from internal_aws.sqs import BatchFailure, BatchResult, Message, OutgoingMessage, context_attributes
from internal_aws.sqs._client import MAX_BATCH_BYTES, _chunks
from internal_aws.sqs._types import AttributeValue, decode_attributes, encode_attributes
from internal_base.context import CORRELATION_ID_HEADER, correlation_scope
from internal_base.telemetry import configure_telemetry, span


def test_attribute_round_trip() -> None:
    """str, int, float and bytes survive encoding and decoding."""
    values: dict[str, AttributeValue] = {"s": "x", "i": 3, "f": 1.25, "b": b"\x01"}
    encoded = encode_attributes(values)
    assert encoded["i"] == {"DataType": "Number", "StringValue": "3"}
    assert encoded["b"] == {"DataType": "Binary", "BinaryValue": b"\x01"}
    assert decode_attributes(encoded) == values


def test_custom_attribute_types_decode() -> None:
    """Custom type suffixes (Number.price, String.json) decode by their base type."""
    raw = {
        "p": {"DataType": "Number.price", "StringValue": "9.5"},
        "j": {"DataType": "String.json", "StringValue": "{}"},
    }
    assert decode_attributes(raw) == {"p": 9.5, "j": "{}"}


@pytest.mark.parametrize("value", [True, None, [1]])
def test_unsupported_attribute_values(value: Any) -> None:
    """bool (ambiguous), None and containers are rejected."""
    with pytest.raises(TypeError, match="must be str, int, float or bytes"):
        encode_attributes({"x": value})


def test_context_attributes_carry_correlation_id() -> None:
    """The current correlation id is added; without a scope nothing is added."""
    assert CORRELATION_ID_HEADER not in context_attributes({})
    with correlation_scope("corr-42"):
        merged = context_attributes({"kind": "report"})
    assert merged == {"kind": "report", CORRELATION_ID_HEADER: "corr-42"}


def test_context_attributes_carry_trace_context() -> None:
    """Inside a span the W3C traceparent of that span is added."""
    configure_telemetry(service_name="aws-unit", exporter="memory")
    with span("producer") as current:
        merged = context_attributes({})
    trace_id = format(current.get_span_context().trace_id, "032x")
    assert str(merged["traceparent"]).split("-")[1] == trace_id


def test_caller_attributes_win_and_limit_is_respected() -> None:
    """A caller's attribute of the same name is kept, and never more than 10 attributes are sent."""
    with correlation_scope("corr-1"):
        assert context_attributes({"x-correlation-id": "mine"}) == {"x-correlation-id": "mine"}
        full = {f"a{i}": i for i in range(10)}
        assert context_attributes(full) == full
        nine = {f"a{i}": i for i in range(9)}
        assert context_attributes(nine)[CORRELATION_ID_HEADER] == "corr-1"


def test_batches_split_by_count_and_size() -> None:
    """25 small entries make 10+10+5; large bodies split earlier to stay under 256 KiB."""
    small = [{"Id": str(i), "MessageBody": "x"} for i in range(25)]
    assert [len(batch) for batch in _chunks(small)] == [10, 10, 5]
    big = [{"Id": str(i), "MessageBody": "y" * (100 * 1024)} for i in range(5)]
    batches = list(_chunks(big))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert all(sum(len(e["MessageBody"]) for e in batch) <= MAX_BATCH_BYTES for batch in batches)


def test_message_helpers() -> None:
    """A received message exposes its receive count, correlation id, carrier and JSON body."""
    message = Message.from_response(
        {
            "MessageId": "m1",
            "ReceiptHandle": "h1",
            "Body": '{"a": 1}',
            "MessageAttributes": {
                CORRELATION_ID_HEADER: {"DataType": "String", "StringValue": "c1"},
                "n": {"DataType": "Number", "StringValue": "2"},
            },
            "Attributes": {"ApproximateReceiveCount": "3"},
        },
        "http://queue",
    )
    assert message.receive_count == 3
    assert message.correlation_id == "c1"
    assert message.carrier() == {CORRELATION_ID_HEADER: "c1"}
    assert message.json() == {"a": 1}
    assert message.queue_url == "http://queue"


def test_batch_result_raises_for_failures() -> None:
    """raise_for_failures turns per-entry failures into BatchError listing them."""
    assert BatchResult(successful={"0": "m"}).ok
    result = BatchResult(
        successful={"0": "m"}, failed=[BatchFailure("1", "InvalidParameterValue", "bad", True)]
    )
    with pytest.raises(BatchError, match="1 of 2") as info:
        result.raise_for_failures()
    assert info.value.failed == result.failed


def settings() -> AwsSettings:
    """Offline settings."""
    return AwsSettings(
        endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        access_key_id=SecretStr("a"),
        secret_access_key=SecretStr("b"),
        health_check=False,
    )


async def test_client_needs_a_queue() -> None:
    """Without queue_url or queue_name the client says so."""
    async with SqsClient(settings=settings()) as sqs:
        with pytest.raises(AwsConfigurationError, match="no queue"):
            await sqs.url()
        with pytest.raises(AwsConfigurationError, match="needs a name"):
            await sqs.create_queue()
    assert SqsClient(queue_url="http://q", settings=settings()).health_check_name() == "aws.sqs:http://q"


async def test_duplicate_batch_ids_are_rejected() -> None:
    """Entry ids must be unique within one send_batch call."""
    async with SqsClient(queue_url="http://127.0.0.1:9/1/q", settings=settings()) as sqs:
        with pytest.raises(AwsConfigurationError, match="unique"):
            await sqs.send_batch([OutgoingMessage("a", id="x"), OutgoingMessage("b", id="x")])


async def noop(message: Message) -> None:
    """A handler that does nothing."""


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"batch_size": 11}, "batch_size"),
        ({"wait_time": 21}, "wait_time"),
        ({"visibility_timeout": 0}, "visibility_timeout"),
        ({"failure_visibility": -1}, "failure_visibility"),
        ({"shutdown_timeout": -1}, "shutdown_timeout"),
        ({"visibility_timeout": 5, "heartbeat_interval": 5}, "heartbeat_interval"),
    ],
)
def test_consumer_validates_its_options(kwargs: dict[str, Any], match: str) -> None:
    """Out-of-range consumer options are configuration errors."""
    with pytest.raises(AwsConfigurationError, match=match):
        SqsConsumer(SqsClient(queue_url="http://q", settings=settings()), noop, **kwargs)


def test_consumer_defaults() -> None:
    """Heartbeats default to a third of the visibility timeout."""
    consumer = SqsConsumer(SqsClient(queue_url="http://q", settings=settings()), noop, visibility_timeout=30)
    assert consumer.heartbeat_interval == 10
    assert not consumer.running
    assert consumer.in_flight == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("req-42", "req-42"), ("a" * 129, None), ("two\nlines", None), ("sp ace", None), ("", None)],
)
def test_message_correlation_id_follows_the_base_rule(value: str, expected: str | None) -> None:
    """Message.correlation_id is the attribute only when is_valid_correlation_id accepts it."""
    message = Message(message_id="m", receipt_handle="r", body="", attributes={"x-correlation-id": value})
    assert message.correlation_id == expected
