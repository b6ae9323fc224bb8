"""Messages sent to and received from SQS, and results of batch calls."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from internal_aws._errors import BatchError
from internal_base.context import CORRELATION_ID_HEADER, is_valid_correlation_id

__all__ = [
    "AttributeValue",
    "BatchFailure",
    "BatchResult",
    "Message",
    "OutgoingMessage",
    "decode_attributes",
    "encode_attributes",
]

AttributeValue = str | int | float | bytes
"""A message attribute value: ``str`` → String, ``int``/``float`` → Number, ``bytes`` → Binary."""


def encode_attributes(attributes: Mapping[str, AttributeValue]) -> dict[str, dict[str, Any]]:
    """Python values as SQS ``MessageAttributes``.

    Raises:
        TypeError: A value is not str, int, float or bytes (bool is rejected: ambiguous).
    """
    encoded: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float | bytes):
            raise TypeError(
                f"message attribute {name!r} must be str, int, float or bytes, not {type(value).__name__}"
            )
        if isinstance(value, bytes):
            encoded[name] = {"DataType": "Binary", "BinaryValue": value}
        elif isinstance(value, str):
            encoded[name] = {"DataType": "String", "StringValue": value}
        else:
            encoded[name] = {
                "DataType": "Number",
                "StringValue": repr(value) if isinstance(value, float) else str(value),
            }
    return encoded


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def decode_attributes(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, AttributeValue]:
    """SQS ``MessageAttributes`` as Python values (custom types like ``Number.price`` included)."""
    decoded: dict[str, AttributeValue] = {}
    for name, value in raw.items():
        kind = str(value.get("DataType", "String"))
        if kind.startswith("Binary"):
            decoded[name] = bytes(value.get("BinaryValue", b""))
        elif kind.startswith("Number"):
            decoded[name] = _number(str(value.get("StringValue", "0")))
        else:
            decoded[name] = str(value.get("StringValue", ""))
    return decoded


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to send in a batch (or alone).

    Attributes:
        body: The message body (text; use JSON for structured data).
        attributes: Message attributes; the correlation and trace context are added on send.
        delay_seconds: Seconds before the message becomes visible (0-900).
        group_id: FIFO queues: message group.
        deduplication_id: FIFO queues: deduplication id (unless content-based deduplication is on).
        id: Batch entry id (default: the position in the batch).
    """

    body: str
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    delay_seconds: int | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A received message.

    Attributes:
        message_id: SQS message id.
        receipt_handle: Handle for delete / change_visibility (valid for this receive only).
        body: The body text.
        attributes: Message attributes, including the propagated context (``X-Correlation-ID``,
            ``traceparent`` ...).
        system_attributes: ``ApproximateReceiveCount``, ``SentTimestamp`` ... as strings.
        queue_url: The queue the message came from.
    """

    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    system_attributes: dict[str, str] = field(default_factory=dict)
    queue_url: str = ""

    @classmethod
    def from_response(cls, raw: Mapping[str, Any], queue_url: str) -> Message:
        """Build from one entry of ``ReceiveMessage``'s ``Messages``."""
        return cls(
            message_id=str(raw["MessageId"]),
            receipt_handle=str(raw["ReceiptHandle"]),
            body=str(raw.get("Body", "")),
            attributes=decode_attributes(raw.get("MessageAttributes") or {}),
            system_attributes={str(k): str(v) for k, v in (raw.get("Attributes") or {}).items()},
            queue_url=queue_url,
        )

    @property
    def receive_count(self) -> int:
        """How many times the message was received (1 on first delivery)."""
        return int(self.system_attributes.get("ApproximateReceiveCount", "1"))

    @property
    def correlation_id(self) -> str | None:
        """The producer's correlation id, when it sent one that ``is_valid_correlation_id`` accepts.

        An attribute breaking the rule (too long, spaces, control characters) gives None, as
        ``extract_context`` then runs the handler under a fresh id instead.
        """
        value = next(
            (v for k, v in self.carrier().items() if k.lower() == CORRELATION_ID_HEADER.lower()), None
        )
        return value if is_valid_correlation_id(value) else None

    def carrier(self) -> dict[str, str]:
        """The string attributes: the carrier for ``internal_base.context.extract_context``."""
        return {name: value for name, value in self.attributes.items() if isinstance(value, str)}

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: The body is not JSON.
        """
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """One entry of a batch call that failed.

    Attributes:
        id: The batch entry id.
        code: AWS error code.
        message: Error message.
        sender_fault: True when the request itself was wrong (retrying will not help).
    """

    id: str
    code: str
    message: str = ""
    sender_fault: bool = False


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Outcome of a batch call, per entry.

    Attributes:
        successful: Entry id → SQS message id (send) or entry id → entry id (delete).
        failed: The entries that failed.
    """

    successful: dict[str, str] = field(default_factory=dict)
    failed: list[BatchFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no entry failed."""
        return not self.failed

    def raise_for_failures(self) -> None:
        """Raise ``BatchError`` (``failed`` = the ``BatchFailure`` entries) if any entry failed."""
        if self.failed:
            total = len(self.failed) + len(self.successful)
            raise BatchError(f"{len(self.failed)} of {total} batch entries failed", failed=self.failed)
