"""The long-polling SQS consumer: concurrency, visibility heartbeats, batched deletes, health."""

from __future__ import annotations

from internal_aws.sqs._consumer import ConsumerStats, Handler, SqsConsumer

__all__ = ["ConsumerStats", "Handler", "SqsConsumer"]
