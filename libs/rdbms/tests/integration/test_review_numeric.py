"""Integration: a value finer than a ``Numeric(p, s)`` column's scale compares exactly, on every backend.

PostgreSQL casts a bound parameter to the column's own type (``$1::NUMERIC(10, 3)``), which rounds
it to the scale: ``amount = 1.0004`` found the row holding ``1.000``, and ``9999999.9995`` (whose
rounding overflows the precision) was a database error instead of an empty result.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from internal_rdbms import Database, Repository, parse_filters

from .test_column_types import Typed, backend_url, typed_db

__all__ = ["backend_url", "typed_db"]  # fixtures shared with the per-type tests

pytestmark = pytest.mark.asyncio(loop_scope="session")

AMOUNTS = [Decimal("1.000"), Decimal("1.001"), Decimal("9999999.999")]
CASES = [
    ({"amount": "1.0004"}, []),
    ({"amount__ne": "1.0004"}, AMOUNTS),
    ({"amount__in": "1.0004,1.001"}, [Decimal("1.001")]),
    ({"amount__ge": "1.0004"}, AMOUNTS[1:]),
    ({"amount__gt": "0.9996"}, AMOUNTS),
    ({"amount__le": "1.0006"}, AMOUNTS[:1]),
    ({"amount__lt": "1.0004"}, AMOUNTS[:1]),
    ({"amount": "9999999.9995"}, []),
    ({"amount__gt": "9999999.9985"}, AMOUNTS[2:]),
]


@pytest.mark.parametrize(("params", "expected"), CASES)
async def test_value_beyond_the_scale_compares_exactly(
    typed_db: Database, unique_name: str, params: dict[str, str], expected: list[Decimal]
) -> None:
    """A value with more decimals than the column's scale is compared as given, never rounded first."""
    async with typed_db.transaction() as session:
        await Repository(session, Typed).add_many(Typed(tag=unique_name, amount=amount) for amount in AMOUNTS)
    async with typed_db.session() as session:
        rows = await Repository(session, Typed).list(*parse_filters(params), tag=unique_name)
        assert sorted(row.amount or Decimal(0) for row in rows) == expected
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
