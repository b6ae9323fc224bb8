"""DynamoDB batch writes through a real proxy that returns items as unprocessed (and does not write them)."""

from __future__ import annotations

from typing import Any

import pytest

from internal_aws import AwsSettings, BatchError, DynamoTable
from internal_base.resilience import Backoff, testing
from internal_testing import AwsProxy


async def through(proxy: AwsProxy, settings: AwsSettings, table: DynamoTable, **options: Any) -> DynamoTable:
    """The test table, reached through ``proxy``."""
    routed = settings.model_copy(update={"endpoint_url": proxy.url})
    return await DynamoTable(table.name, settings=routed, session=table.session, **options).open()


async def test_unprocessed_items_are_retried_until_every_item_lands_once(
    aws_proxy: AwsProxy, settings: AwsSettings, table: DynamoTable
) -> None:
    """Half of every batch comes back unprocessed; retries write each of the 60 items exactly once."""
    aws_proxy.unprocessed_fraction = 0.5
    client = await through(
        aws_proxy, settings, table, batch_attempts=8, batch_backoff=Backoff(initial=0.01, maximum=0.05)
    )
    try:
        with testing() as switch:
            assert await client.batch_write(puts=[{"pk": "p", "sk": i, "v": i} for i in range(60)]) == 60
    finally:
        await client.aclose()
    stored = [item async for item in table.query("pk = :pk", values={"pk": "p"}, consistent=True)]
    assert sorted(int(item["sk"]) for item in stored) == list(range(60))
    assert aws_proxy.held_back > 0
    assert aws_proxy.forwarded_writes == 60
    assert len(switch.sleeps) == aws_proxy.operations["BatchWriteItem"] - 3  # one backoff per retry


async def test_a_batch_that_never_succeeds_raises_naming_what_is_left(
    aws_proxy: AwsProxy, settings: AwsSettings, table: DynamoTable
) -> None:
    """With every item held back, retries stop after batch_attempts; BatchError counts the rest."""
    aws_proxy.unprocessed_fraction = 1.0
    client = await through(
        aws_proxy, settings, table, batch_attempts=3, batch_backoff=Backoff(initial=0.01, maximum=0.05)
    )
    try:
        with testing(), pytest.raises(BatchError, match="30 of 30 batch writes were not processed") as info:
            await client.batch_write(puts=[{"pk": "p", "sk": i} for i in range(30)])
    finally:
        await client.aclose()
    assert aws_proxy.operations["BatchWriteItem"] == 2 * 3
    assert sorted(entry["put"]["sk"] for entry in info.value.failed) == list(range(30))
    assert [item async for item in table.scan()] == []


async def test_unprocessed_keys_are_retried_until_every_item_is_read(
    aws_proxy: AwsProxy, settings: AwsSettings, table: DynamoTable
) -> None:
    """Half of every BatchGetItem comes back unprocessed; retries read each of 150 items exactly once."""
    await table.batch_write(puts=[{"pk": "p", "sk": i} for i in range(150)])
    aws_proxy.unprocessed_fraction = 0.5
    client = await through(
        aws_proxy, settings, table, batch_attempts=10, batch_backoff=Backoff(initial=0.01, maximum=0.05)
    )
    try:
        with testing():
            found = await client.batch_get([{"pk": "p", "sk": i} for i in range(150)], consistent=True)
    finally:
        await client.aclose()
    assert sorted(int(item["sk"]) for item in found) == list(range(150))
    assert aws_proxy.held_back > 0


async def test_keys_never_read_raise_naming_how_many(
    aws_proxy: AwsProxy, settings: AwsSettings, table: DynamoTable
) -> None:
    """With every key held back batch_get stops after batch_attempts and BatchError counts the keys."""
    aws_proxy.unprocessed_fraction = 1.0
    client = await through(
        aws_proxy, settings, table, batch_attempts=2, batch_backoff=Backoff(initial=0.01, maximum=0.05)
    )
    try:
        with testing(), pytest.raises(BatchError, match="5 keys were not read") as info:
            await client.batch_get([{"pk": "p", "sk": i} for i in range(5)])
    finally:
        await client.aclose()
    assert aws_proxy.operations["BatchGetItem"] == 2
    assert sorted(key["sk"] for key in info.value.failed) == list(range(5))


async def test_batch_retries_wait_by_the_tables_backoff(
    aws_proxy: AwsProxy, settings: AwsSettings, table: DynamoTable
) -> None:
    """The waits between unprocessed-item retries are the table's ``batch_backoff`` schedule."""
    aws_proxy.unprocessed_fraction = 1.0
    schedule = Backoff(initial=0.25, maximum=1.0, jitter=False)
    client = await through(aws_proxy, settings, table, batch_attempts=4, batch_backoff=schedule)
    try:
        with testing() as switch, pytest.raises(BatchError):
            await client.batch_write(puts=[{"pk": "p", "sk": 1}])
    finally:
        await client.aclose()
    assert switch.sleeps == [0.25, 0.5, 1.0]
