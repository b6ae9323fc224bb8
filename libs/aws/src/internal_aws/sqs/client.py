"""The SQS queue client; messages carry the correlation ID and trace context as attributes."""

from __future__ import annotations

from internal_aws.sqs._client import (
    MAX_ATTRIBUTES,
    MAX_BATCH,
    MAX_BATCH_BYTES,
    MessageRef,
    SqsClient,
    context_attributes,
)

__all__ = ["MAX_ATTRIBUTES", "MAX_BATCH", "MAX_BATCH_BYTES", "MessageRef", "SqsClient", "context_attributes"]
