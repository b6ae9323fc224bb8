"""DynamoDB table configuration and expression building (no network)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from internal_aws import AwsConfigurationError, AwsSerializationError, AwsSettings, DynamoTable, Page
from internal_aws.dynamodb._expressions import Expressions, update_expression
from internal_base.health import HealthRegistry


def test_names_and_values_are_prefixed_and_serialized() -> None:
    """Placeholders work with or without # and :, and values are serialized."""
    expressions = Expressions()
    expressions.add_names({"s": "status", "#t": "type"})
    expressions.add_values({"v": 1.5, ":w": "x"})
    assert expressions.params() == {
        "ExpressionAttributeNames": {"#s": "status", "#t": "type"},
        "ExpressionAttributeValues": {":v": {"N": "1.5"}, ":w": {"S": "x"}},
    }
    assert Expressions().params() == {}


def test_update_expression_uses_placeholders_for_every_attribute() -> None:
    """SET, REMOVE and ADD clauses never put attribute names (reserved words) in the text."""
    expressions = Expressions()
    text = update_expression(expressions, {"status": "done", "size": 2}, ["old"], {"count": 1})
    assert text == "SET #u0 = :u0, #u1 = :u1 REMOVE #r0 ADD #a0 :a0"
    assert expressions.names == {"#u0": "status", "#u1": "size", "#r0": "old", "#a0": "count"}
    assert expressions.values == {":u0": {"S": "done"}, ":u1": {"N": "2"}, ":a0": {"N": "1"}}


def test_update_expression_needs_something_to_do() -> None:
    """An empty update is rejected before any call."""
    with pytest.raises(AwsSerializationError, match="at least one"):
        update_expression(Expressions(), None, [], None)


def test_update_expression_rejects_duplicates() -> None:
    """The same attribute in two clauses is rejected (DynamoDB would refuse it)."""
    with pytest.raises(AwsSerializationError, match="more than once"):
        update_expression(Expressions(), {"a": 1}, ["a"], None)


def test_table_defaults() -> None:
    """A table decodes numbers as Decimal and retries unprocessed batch items 5 times by default."""
    table = DynamoTable("orders", settings=AwsSettings(health_check=False))
    assert table.name == "orders"
    assert table.numbers == "decimal"
    assert table.batch_attempts == 5
    assert table.health_check_name() == "aws.dynamodb:orders"
    assert table.config.signature_version is None


def test_page_defaults() -> None:
    """An empty page is the last page."""
    assert Page() == Page(items=[], last_key=None)


async def test_table_registers_its_health_check() -> None:
    """Opening a table registers its readiness check in the given registry."""
    registry = HealthRegistry(cache_ttl=0)
    settings = AwsSettings(
        endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        access_key_id=SecretStr("a"),
        secret_access_key=SecretStr("b"),
    )
    async with DynamoTable("orders", settings=settings, health_registry=registry):
        assert registry.names == ["aws.dynamodb:orders"]
    assert registry.names == []


def test_batch_attempts_below_one_are_refused() -> None:
    """A table that would never send its batch requests is a configuration error naming the value."""
    with pytest.raises(AwsConfigurationError, match="batch_attempts must be >= 1, got 0"):
        DynamoTable("orders", settings=AwsSettings(health_check=False), batch_attempts=0)
