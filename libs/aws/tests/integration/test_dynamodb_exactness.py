"""DynamoDB edge cases against a real endpoint: exact resume keys, placeholders that never clash."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from internal_aws import AwsSerializationError, AwsSettings, DynamoTable

# 19+ significant digits: a float keeps about 17, so a rounded key resumes at the wrong place.
FRACTIONS = [Decimal("0.1234567890123456789") + Decimal(k) * Decimal("1E-19") for k in range(5)]
INTEGERS = [10**19 + k for k in range(5)]


@pytest.fixture(params=["fractions", "integers"])
def keys(request: pytest.FixtureRequest) -> list[Any]:
    """Sort keys of 19+ digits: fractions and integers."""
    return FRACTIONS if request.param == "fractions" else INTEGERS


async def native(settings: AwsSettings, table: DynamoTable) -> DynamoTable:
    """The same table read with numbers="native"."""
    return await DynamoTable(table.name, settings=settings, session=table.session, numbers="native").open()


async def test_native_query_resumes_from_the_exact_key(
    settings: AwsSettings, table: DynamoTable, keys: list[Any]
) -> None:
    """A native-number query one item per page returns each 19-digit key once, then stops."""
    await table.batch_write(puts=[{"pk": "p", "sk": key} for key in keys])
    reader = await native(settings, table)
    try:
        found = [item async for item in reader.query("pk = :pk", values={"pk": "p"}, page_size=1, limit=20)]
    finally:
        await reader.aclose()
    assert len(found) == len(keys)


async def test_native_scan_pages_resume_exactly(
    settings: AwsSettings, table: DynamoTable, keys: list[Any]
) -> None:
    """scan_page's last_key in native mode keeps every digit, so the next page starts after it."""
    await table.batch_write(puts=[{"pk": "p", "sk": key} for key in keys])
    reader = await native(settings, table)
    seen: list[Any] = []
    try:
        start: dict[str, Any] | None = None
        for _ in range(20):
            page = await reader.scan_page(page_size=2, start_key=start)
            seen += [item["sk"] for item in page.items]
            if page.last_key is None:
                break
            assert Decimal(page.last_key["sk"]) in {Decimal(key) for key in keys}
            start = page.last_key
    finally:
        await reader.aclose()
    assert len(seen) == len(keys)


async def test_update_generated_placeholders_never_overwrite_the_callers(table: DynamoTable) -> None:
    """A condition's :u0/#u0 placeholders keep the caller's values next to generated SET placeholders."""
    await table.put({"pk": "x", "sk": 1, "status": "new", "n": 5})
    updated = await table.update(
        {"pk": "x", "sk": 1},
        updates={"status": "paid"},
        condition="#u0 = :u0",
        names={"#u0": "n"},
        values={":u0": 5},
    )
    assert updated["status"] == "paid"
    assert updated["n"] == 5


async def test_update_rejects_a_placeholder_given_twice(table: DynamoTable) -> None:
    """One placeholder given twice (":v" and "v") is a clear error instead of one value silently winning."""
    with pytest.raises(AwsSerializationError, match="':v' is given twice"):
        await table.update({"pk": "x", "sk": 1}, expression="SET a = :v", values={":v": 1, "v": 2})
    assert await table.get({"pk": "x", "sk": 1}) is None


async def test_update_rejects_expression_together_with_updates(table: DynamoTable) -> None:
    """A raw expression next to updates= would drop the updates silently: a clear error, nothing written."""
    with pytest.raises(AwsSerializationError, match="not both"):
        await table.update({"pk": "x", "sk": 1}, expression="SET a = :v", values={"v": 1}, updates={"b": 2})
    assert await table.get({"pk": "x", "sk": 1}) is None
