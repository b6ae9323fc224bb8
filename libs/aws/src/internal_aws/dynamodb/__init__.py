"""DynamoDB: a table client with plain Python values, conditional writes, pagination and batches."""

from __future__ import annotations

from internal_aws.dynamodb._serialization import (
    NumberMode,
    deserialize_item,
    deserialize_value,
    serialize_item,
    serialize_value,
)
from internal_aws.dynamodb._table import DynamoTable, KeyType, Page

__all__ = [
    "DynamoTable",
    "KeyType",
    "NumberMode",
    "Page",
    "deserialize_item",
    "deserialize_value",
    "serialize_item",
    "serialize_value",
]
