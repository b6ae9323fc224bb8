"""SQS: a queue client carrying correlation/trace context, a long-polling consumer, an outbox publisher."""

from __future__ import annotations

from internal_aws.sqs._client import MAX_BATCH, SqsClient, context_attributes
from internal_aws.sqs._consumer import ConsumerStats, Handler, SqsConsumer
from internal_aws.sqs._outbox import OUTBOX_ID_ATTRIBUTE, OutboxEventLike, PublishReport, SqsOutboxPublisher
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
    "OUTBOX_ID_ATTRIBUTE",
    "OutboxEventLike",
    "OutgoingMessage",
    "PublishReport",
    "SqsClient",
    "SqsConsumer",
    "SqsOutboxPublisher",
    "context_attributes",
]
