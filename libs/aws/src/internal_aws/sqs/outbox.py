"""Publish outbox events to SQS: ``SqsOutboxPublisher``, structurally an ``OutboxPublisher``."""

from __future__ import annotations

from internal_aws.sqs._outbox import OUTBOX_ID_ATTRIBUTE, OutboxEventLike, PublishReport, SqsOutboxPublisher

__all__ = ["OUTBOX_ID_ATTRIBUTE", "OutboxEventLike", "PublishReport", "SqsOutboxPublisher"]
