"""SQS: a queue client that propagates correlation/trace context, and a long-polling consumer."""

from __future__ import annotations

from internal_aws.sqs._client import MAX_BATCH, SqsClient, context_attributes
from internal_aws.sqs._consumer import ConsumerStats, Handler, SqsConsumer
from internal_aws.sqs._types import (
    AttributeValue,
    BatchFailure,
    BatchResult,
    Message,
    OutgoingMessage,
)

__all__ = [
    "AttributeValue",
    "BatchFailure",
    "BatchResult",
    "ConsumerStats",
    "Handler",
    "MAX_BATCH",
    "Message",
    "OutgoingMessage",
    "SqsClient",
    "SqsConsumer",
    "context_attributes",
]
