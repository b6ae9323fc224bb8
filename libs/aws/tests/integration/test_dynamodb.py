"""DynamoDB against a real endpoint: items, conditions, pagination, batches, types."""

from __future__ import annotations

from decimal import Decimal

import pytest

from internal_aws import AwsSettings, ConditionFailedError, DynamoTable, TableNotFoundError


async def test_put_get_round_trip_with_types(table: DynamoTable) -> None:
    """Floats, Decimals, nested maps, sets and bytes survive a round trip."""
    item = {
        "pk": "u#1",
        "sk": 1,
        "price": 0.1,
        "exact": Decimal("12.345"),
        "tags": {"a", "b"},
        "raw": b"\x00",
    }
    item["nested"] = {"list": [1, 2.5, "x"], "flag": True, "none": None}
    await table.put(item)
    stored = await table.get({"pk": "u#1", "sk": 1})
    assert stored == {
        "pk": "u#1",
        "sk": Decimal(1),
        "price": Decimal("0.1"),
        "exact": Decimal("12.345"),
        "tags": {"a", "b"},
        "raw": b"\x00",
        "nested": {"list": [Decimal(1), Decimal("2.5"), "x"], "flag": True, "none": None},
    }
    assert await table.get({"pk": "u#1", "sk": 2}) is None
    assert await table.get({"pk": "u#1", "sk": 1}, attributes=["price"], consistent=True) == {
        "price": Decimal("0.1")
    }


async def test_conditional_put_raises_condition_failed(table: DynamoTable) -> None:
    """A failed condition raises ConditionFailedError carrying the stored item; nothing changes."""
    await table.put({"pk": "a", "sk": 1, "v": "first"}, condition="attribute_not_exists(pk)")
    with pytest.raises(ConditionFailedError) as info:
        await table.put({"pk": "a", "sk": 1, "v": "second"}, condition="attribute_not_exists(pk)")
    assert info.value.code == "ConditionalCheckFailedException"
    assert info.value.item == {"pk": "a", "sk": Decimal(1), "v": "first"}
    assert (await table.get({"pk": "a", "sk": 1}) or {})["v"] == "first"


async def test_conditional_update_and_counters(table: DynamoTable) -> None:
    """update sets, removes and adds; a version condition guards concurrent writers."""
    await table.put({"pk": "o", "sk": 1, "version": 1, "status": "new", "old": "x"})
    after = await table.update(
        {"pk": "o", "sk": 1},
        updates={"status": "paid", "version": 2},
        remove=["old"],
        add={"hits": 3},
        condition="#v = :expected",
        names={"v": "version"},
        values={"expected": 1},
    )
    assert after == {"pk": "o", "sk": Decimal(1), "version": Decimal(2), "status": "paid", "hits": Decimal(3)}
    with pytest.raises(ConditionFailedError) as info:
        await table.update(
            {"pk": "o", "sk": 1}, updates={"status": "void"}, condition="version = :one", values={":one": 1}
        )
    assert info.value.item is not None
    assert info.value.item["status"] == "paid"
    raw = await table.update(
        {"pk": "o", "sk": 1}, expression="SET #s = :s", names={"#s": "status"}, values={":s": "done"}
    )
    assert raw["status"] == "done"


async def test_delete_returns_old_item_and_honours_condition(table: DynamoTable) -> None:
    """delete returns what was deleted, None for nothing, and respects its condition."""
    await table.put({"pk": "d", "sk": 1, "keep": True})
    with pytest.raises(ConditionFailedError):
        await table.delete({"pk": "d", "sk": 1}, condition="keep = :f", values={":f": False})
    assert await table.delete({"pk": "d", "sk": 1}) == {"pk": "d", "sk": Decimal(1), "keep": True}
    assert await table.delete({"pk": "d", "sk": 1}) is None


async def test_query_paginates_in_order(table: DynamoTable) -> None:
    """query walks every page (page_size 2) in sort order, honours limit and descending."""
    await table.batch_write(puts=[{"pk": "q", "sk": i, "even": i % 2 == 0} for i in range(7)])
    await table.put({"pk": "other", "sk": 0})
    items = [item async for item in table.query("pk = :pk", values={":pk": "q"}, page_size=2)]
    assert [int(item["sk"]) for item in items] == list(range(7))
    top = [
        item
        async for item in table.query("pk = :pk", values={":pk": "q"}, descending=True, limit=3, page_size=2)
    ]
    assert [int(item["sk"]) for item in top] == [6, 5, 4]
    ranged = table.query(
        "pk = :pk AND sk BETWEEN :lo AND :hi",
        values={"pk": "q", "lo": 2, "hi": 5, "t": True},
        filter="even = :t",
    )
    assert [int(item["sk"]) async for item in ranged] == [2, 4]


async def test_query_page_resumes(table: DynamoTable) -> None:
    """query_page returns a last_key that resumes exactly where the page ended."""
    await table.batch_write(puts=[{"pk": "r", "sk": i} for i in range(5)])
    first = await table.query_page("pk = :pk", values={"pk": "r"}, page_size=3)
    assert [int(item["sk"]) for item in first.items] == [0, 1, 2]
    assert first.last_key == {"pk": "r", "sk": Decimal(2)}
    second = await table.query_page("pk = :pk", values={"pk": "r"}, page_size=3, start_key=first.last_key)
    assert [int(item["sk"]) for item in second.items] == [3, 4]
    resumed = [
        int(item["sk"])
        async for item in table.query("pk = :pk", values={"pk": "r"}, start_key=first.last_key)
    ]
    assert resumed == [3, 4]


async def test_scan_with_filter_and_pages(table: DynamoTable) -> None:
    """scan covers every page and applies its filter; scan_page reports the last key."""
    await table.batch_write(puts=[{"pk": f"s{i}", "sk": i, "n": i} for i in range(9)])
    big = [item async for item in table.scan(filter="n >= :min", values={"min": 5}, page_size=2)]
    assert sorted(int(item["n"]) for item in big) == [5, 6, 7, 8]
    limited = [item async for item in table.scan(limit=4, page_size=3)]
    assert len(limited) == 4
    page = await table.scan_page(page_size=4)
    assert len(page.items) == 4
    assert page.last_key is not None


async def test_batch_write_and_get_many(table: DynamoTable) -> None:
    """60 puts go out in batches of 25; batch_get reads them all back; deletes work too."""
    written = await table.batch_write(puts=[{"pk": "b", "sk": i, "v": i * 0.5} for i in range(60)])
    assert written == 60
    found = await table.batch_get([{"pk": "b", "sk": i} for i in range(60)] + [{"pk": "none", "sk": 0}])
    assert sorted(int(item["sk"]) for item in found) == list(range(60))
    assert {item["v"] for item in found if item["sk"] == 3} == {Decimal("1.5")}
    assert await table.batch_write(deletes=[{"pk": "b", "sk": i} for i in range(30)]) == 30
    remaining = [item async for item in table.query("pk = :pk", values={"pk": "b"})]
    assert len(remaining) == 30


async def test_native_numbers(settings: AwsSettings, table: DynamoTable) -> None:
    """numbers="native" returns int and float instead of Decimal."""
    await table.put({"pk": "n", "sk": 1, "f": 2.5, "i": 3})
    async with DynamoTable(table.name, settings=settings, numbers="native") as native:
        assert await native.get({"pk": "n", "sk": 1}) == {"pk": "n", "sk": 1, "f": 2.5, "i": 3}


async def test_missing_table(settings: AwsSettings, unique_name: str) -> None:
    """Calls on a missing table raise TableNotFoundError; describe names the table."""
    async with DynamoTable(unique_name + "-missing", settings=settings) as missing:
        with pytest.raises(TableNotFoundError) as info:
            await missing.get({"pk": "x", "sk": 1})
        assert info.value.operation == "GetItem"
        with pytest.raises(TableNotFoundError):
            await missing.ping()


async def test_describe(table: DynamoTable) -> None:
    """describe returns the active table and its key schema."""
    description = await table.describe()
    assert description["TableStatus"] == "ACTIVE"
    assert [key["AttributeName"] for key in description["KeySchema"]] == ["pk", "sk"]
