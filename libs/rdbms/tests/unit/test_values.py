"""Storable-value rules per column type and backend, and ranges on booleans (SQLite in memory)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    DateTime,
    Double,
    Enum,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Uuid,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from internal_rdbms import Base, Database, IntPrimaryKeyMixin, Range, Repository, UTCDateTime
from internal_rdbms._values import returned_inexactly, storable

NO_OFFSET = DateTime()
PLUS_FIVE = timezone(timedelta(hours=5))

# (type, value, backend, reason fragment or None when storable)
CASES: list[tuple[TypeEngine[Any], object, str | None, str | None]] = [
    (SmallInteger(), 2**15, "postgresql", "out of range"),
    (SmallInteger(), 2**15, "sqlite", None),
    (Integer(), 2**31, "mysql", "out of range"),
    (Integer(), -(2**31), "postgresql", None),
    (BigInteger(), 2**63, "sqlite", "out of range"),
    (mysql.TINYINT(), 128, "mysql", "out of range"),
    (mysql.INTEGER(unsigned=True), 2**32 - 1, "mysql", None),
    (mysql.INTEGER(unsigned=True), -1, "mysql", "out of range"),
    (Double(), math.nan, "postgresql", None),
    (Double(), math.nan, "sqlite", "NaN"),
    (Double(), math.inf, "sqlite", None),
    (Double(), -math.inf, "mysql", "infinity"),
    (Double(), math.nan, None, "NaN"),
    (Float(precision=24), 1e39, "postgresql", "single-precision"),
    (Float(), 1e39, "mysql", "single-precision"),
    (Float(), 1e39, "postgresql", None),
    (Numeric(5, 2), Decimal("999.99"), None, None),
    (Numeric(5, 2), Decimal("1000"), None, "digits before the decimal point"),
    (Numeric(), Decimal("1e-20000"), None, "too many digits"),
    (Numeric(), Decimal("sNaN"), "postgresql", "NaN"),
    (Numeric(5, 2, asdecimal=False), 12345.0, "sqlite", "digits before the decimal point"),
    (String(), "a\x00b", "postgresql", "NUL"),
    (String(), "a\x00b", "mysql", None),
    (String(), "\ud800", "sqlite", "surrogate"),
    (String(collation="latin1_swedish_ci"), "Ω", "mysql", "character set latin1"),
    (String(collation="latin1_swedish_ci"), "äé", "mysql", None),
    (String(collation="utf8mb3_general_ci"), "😀", "mysql", "Basic Multilingual Plane"),
    (String(collation="utf8mb3_general_ci"), "😀", "postgresql", None),
    (Enum("a", "b", name="ab"), "c", None, "not one of a, b"),
    (Uuid(as_uuid=False), "nope", None, "not a UUID"),
    (UTCDateTime(), datetime(1, 1, 1, tzinfo=PLUS_FIVE), None, "out of range once converted to UTC"),
    (UTCDateTime(), datetime(9999, 12, 31, 23, tzinfo=UTC), None, None),
    (NO_OFFSET, datetime(2024, 1, 1, tzinfo=PLUS_FIVE), None, "without a UTC offset"),
    (NO_OFFSET, datetime(2024, 1, 1), None, None),
]


@pytest.mark.parametrize(("column_type", "value", "backend", "reason"), CASES)
def test_storable_rules(
    column_type: TypeEngine[Any], value: object, backend: str | None, reason: str | None
) -> None:
    """Each value is storable, or refused with a reason naming what is wrong, per type and backend."""
    _, found = storable(column_type, value, backend)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found


def test_numeric_nan_from_a_postgresql_row_is_storable() -> None:
    """A cursor value NaN read from a PostgreSQL numeric row is accepted; as a filter it is not."""
    assert storable(Numeric(10, 2), Decimal("NaN"), "postgresql", from_row=True)[1] is None
    assert storable(Numeric(10, 2), Decimal("NaN"), "postgresql")[1] is not None
    assert storable(Numeric(10, 2), Decimal("Infinity"), "postgresql", from_row=True)[1] is not None


def test_mysql_float_values_are_rounded_to_single_precision() -> None:
    """On MySQL a FLOAT filter value becomes the float32 the column holds; a DOUBLE's is kept."""
    assert storable(Float(), 0.1, "mysql")[0] == 0.10000000149011612
    assert storable(Double(), 0.1, "mysql")[0] == 0.1
    assert returned_inexactly(Float(), "mysql")
    assert not returned_inexactly(Float(), "postgresql")


class Toggle(IntPrimaryKeyMixin, Base):
    """A nullable boolean."""

    __tablename__ = "val_toggles"
    on: Mapped[bool | None] = mapped_column(nullable=True)


@pytest.fixture()
async def toggles(sqlite_db: Database) -> AsyncIterator[AsyncSession]:
    """Rows with on = true, false, NULL."""
    async with sqlite_db.transaction() as session:
        session.add_all(Toggle(on=value) for value in (True, False, None, True))
    async with sqlite_db.session() as session:
        yield session


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
@pytest.mark.parametrize("bound", [True, False])
async def test_boolean_ranges_follow_false_before_true(toggles: AsyncSession, op: str, bound: bool) -> None:
    """Every range on a boolean selects what false < true says; NULL never matches."""
    rows = await Repository(toggles, Toggle).list(Range("on", **{op: bound}))
    compare = {"gt": bool.__gt__, "ge": bool.__ge__, "lt": bool.__lt__, "le": bool.__le__}[op]
    expected = sorted(v for v in (True, False, True) if compare(v, bound))
    assert sorted(row.on for row in rows if row.on is not None) == expected
    assert all(row.on is not None for row in rows)
