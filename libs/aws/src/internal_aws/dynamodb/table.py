"""The DynamoDB table client: plain Python values, conditional writes, pagination and batches."""

from __future__ import annotations

from internal_aws.dynamodb._table import DynamoTable, KeyType, Page

__all__ = ["DynamoTable", "KeyType", "Page"]
