"""Typed filters: validation of fields, operators and values; SQL semantics on SQLite."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import JSON, Numeric, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from internal_rdbms import (
    MAX_IN_VALUES,
    Base,
    Database,
    Eq,
    In,
    IntPrimaryKeyMixin,
    InvalidQueryError,
    IsNull,
    Ne,
    OrderBy,
    Range,
    Repository,
    Search,
    apply_filters,
    filter_condition,
    parse_filters,
    parse_order,
)
from internal_rdbms._filters import coerce_value


class Color(enum.Enum):
    """A small enum column type."""

    RED = "red"
    BLUE = "blue"


class Item(IntPrimaryKeyMixin, Base):
    """A row with one column per supported type."""

    __tablename__ = "flt_items"
    name: Mapped[str] = mapped_column(String(50))
    qty: Mapped[int]
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    weight: Mapped[float]
    active: Mapped[bool]
    ref: Mapped[uuid.UUID]
    seen_at: Mapped[datetime]
    due: Mapped[date]
    color: Mapped[Color]
    note: Mapped[str | None] = mapped_column(String(50), nullable=True)
    extra: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)


REF = uuid.UUID("12345678-1234-5678-1234-567812345678")


def _item(i: int, name: str, **overrides: object) -> Item:
    values: dict[str, object] = {
        "name": name,
        "qty": i,
        "price": Decimal(f"{i}.50"),
        "weight": i * 1.5,
        "active": i % 2 == 0,
        "ref": REF if i == 1 else uuid.uuid4(),
        "seen_at": datetime(2024, 1, i, 12, tzinfo=UTC),
        "due": date(2024, 2, i),
        "color": Color.RED if i <= 2 else Color.BLUE,
        "note": None if i == 3 else f"note {i}",
    }
    values.update(overrides)
    return Item(**values)


@pytest.fixture()
async def session(sqlite_db: Database) -> AsyncIterator[AsyncSession]:
    """A session over five items, including tricky names for LIKE escaping."""
    async with sqlite_db.transaction() as s:
        names = ["apple", "Banana", "100% juice", "snake_case", "Pineapple"]
        s.add_all([_item(i, name) for i, name in enumerate(names, start=1)])
    async with sqlite_db.session() as s:
        yield s


async def _names(session: AsyncSession, *filters: object, allowed: set[str] | None = None) -> list[str]:
    statement = apply_filters(select(Item), Item, filters, allowed=allowed)  # type: ignore[arg-type]
    return [item.name for item in (await session.scalars(statement.order_by(Item.id))).all()]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ((Eq("name", "apple"),), ["apple"]),
        ((Eq("qty", "2"),), ["Banana"]),
        ((Eq("note", None),), ["100% juice"]),
        ((Ne("name", "apple"),), ["Banana", "100% juice", "snake_case", "Pineapple"]),
        ((Ne("note", None),), ["apple", "Banana", "snake_case", "Pineapple"]),
        ((In("qty", ["1", 3]),), ["apple", "100% juice"]),
        ((In("qty", []),), []),
        ((In("name", "apple"),), ["apple"]),
        ((Range("qty", ge=2, lt="4"),), ["Banana", "100% juice"]),
        ((Range("price", gt="3.5"),), ["snake_case", "Pineapple"]),
        ((Range("weight", le=3),), ["apple", "Banana"]),
        ((Range("seen_at", ge="2024-01-04T00:00:00+00:00"),), ["snake_case", "Pineapple"]),
        ((Range("due", lt=date(2024, 2, 2)),), ["apple"]),
        ((Eq("active", "true"),), ["Banana", "snake_case"]),
        ((Eq("active", False),), ["apple", "100% juice", "Pineapple"]),
        ((Eq("ref", str(REF)),), ["apple"]),
        ((Eq("color", "blue"),), ["100% juice", "snake_case", "Pineapple"]),
        ((Eq("color", "RED"),), ["apple", "Banana"]),
        ((Search("name", "APPLE"),), ["apple", "Pineapple"]),
        ((Search("name", "apple", case_sensitive=True),), ["apple", "Pineapple"]),
        ((Search("name", "App", mode="startswith"),), ["apple"]),
        ((Search("name", "le", mode="endswith"),), ["apple", "Pineapple"]),
        ((Search("name", "%"),), ["100% juice"]),
        ((Search("name", "_"),), ["snake_case"]),
        ((IsNull("note"),), ["100% juice"]),
        ((IsNull("note", is_null=False), Eq("color", Color.RED)), ["apple", "Banana"]),
    ],
)
async def test_filter_semantics(
    session: AsyncSession, filters: tuple[object, ...], expected: list[str]
) -> None:
    """Each filter selects exactly the expected rows; string values are coerced to column types."""
    assert await _names(session, *filters) == expected


@pytest.mark.parametrize(
    "field", ["nope", "name; DROP TABLE flt_items; --", "__class__", "metadata", "x" * 200]
)
def test_unknown_fields_are_rejected_naming_the_field(field: str) -> None:
    """Unknown or hostile field names raise InvalidQueryError listing the allowed fields."""
    with pytest.raises(InvalidQueryError, match="cannot filter Item by field") as info:
        filter_condition(Item, Eq(field, 1))
    assert repr(field[:61])[:-1] in str(info.value)
    assert "allowed fields: active, color, due" in str(info.value)


def test_allow_list_is_enforced() -> None:
    """Fields outside the allow-list are rejected even when they are columns."""
    with pytest.raises(InvalidQueryError, match=r"'qty'.*allowed fields: name$"):
        filter_condition(Item, Eq("qty", 1), allowed={"name", "missing"})
    assert filter_condition(Item, Eq("name", "x"), allowed={"name"}) is not None


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (Eq("qty", "abc"), "field 'qty' of Item: expected int, got str"),
        (Eq("qty", True), "expected int, got bool"),
        (Eq("due", datetime(2024, 1, 1, tzinfo=UTC)), "expected date, got datetime"),
        (Eq("ref", "not-a-uuid"), "expected UUID"),
        (Eq("active", "maybe"), "expected bool"),
        (Eq("color", "green"), "expected Color"),
        (Eq("name", 5), "expected str, got int"),
        (Eq("price", "1.2.3"), "expected Decimal"),
        (Range("qty"), "needs at least one bound"),
        (Range("qty", ge=1, gt=1), "both an inclusive and an exclusive bound"),
        (In("qty", list(range(MAX_IN_VALUES + 1))), "too many values for field 'qty'"),
        (Search("qty", "1"), "not a text column"),
        (Search("name", ""), "non-empty string"),
        (Search("name", "x" * 201), "longer than 200"),
        (Search("name", "x", mode="regex"), "unknown search mode"),  # type: ignore[arg-type]
    ],
)
def test_bad_values_are_rejected(flt: object, message: str) -> None:
    """Bad values and filter shapes raise InvalidQueryError with a precise message."""
    with pytest.raises(InvalidQueryError, match=message.replace("(", r"\(")):
        filter_condition(Item, flt)  # type: ignore[arg-type]


def test_unsupported_filter_type_is_rejected() -> None:
    """An object that is not a filter is rejected, naming its field."""
    with pytest.raises(InvalidQueryError, match="unsupported filter OrderBy"):
        filter_condition(Item, OrderBy("qty"))  # type: ignore[arg-type]


def test_coercion_of_numbers_and_untyped_columns() -> None:
    """Ints widen to float/Decimal; columns without a Python type take values as they are."""
    assert coerce_value(Item, "weight", 2) == 2.0
    assert isinstance(coerce_value(Item, "weight", 2), float)
    assert coerce_value(Item, "price", 2.5) == Decimal("2.5")
    assert coerce_value(Item, "seen_at", "2024-01-01T00:00:00Z") == datetime(2024, 1, 1, tzinfo=UTC)
    assert coerce_value(Item, "due", "2024-01-02") == date(2024, 1, 2)
    assert coerce_value(Item, "qty", None) is None
    payload = {"a": 1}
    assert coerce_value(Item, "extra", payload) is payload


def test_parse_filters_from_query_parameters() -> None:
    """Query-string style parameters become typed filters."""
    assert parse_filters(
        {
            "name": "apple",
            "name__ne": "x",
            "qty__in": "1, 2",
            "qty__ge": "1",
            "qty__lt": "9",
            "name__contains": "pp",
            "name__startswith": "a",
            "name__endswith": "e",
            "note__isnull": "true",
            "ref__in": ["a", "b"],
        }
    ) == [
        Eq("name", "apple"),
        Ne("name", "x"),
        In("qty", ("1", "2")),
        Range("qty", ge="1"),
        Range("qty", lt="9"),
        Search("name", "pp", mode="contains"),
        Search("name", "a", mode="startswith"),
        Search("name", "e", mode="endswith"),
        IsNull("note", is_null=True),
        In("ref", ("a", "b")),
    ]


def test_parse_filters_rejects_bad_operators() -> None:
    """Unknown operators and non-boolean ``isnull`` values name the parameter."""
    with pytest.raises(InvalidQueryError, match="unknown filter operator 'regex' in parameter 'name__regex'"):
        parse_filters({"name__regex": ".*"})
    with pytest.raises(InvalidQueryError, match="'note__isnull' must be true or false"):
        parse_filters({"note__isnull": "perhaps"})


def test_parse_order() -> None:
    """Sort specs parse from strings and lists, keeping OrderBy items."""
    assert parse_order("-qty, +name,,color") == [OrderBy("qty", True), OrderBy("name"), OrderBy("color")]
    assert parse_order(["name", OrderBy("qty", True)]) == [OrderBy("name"), OrderBy("qty", True)]
    assert parse_order(None) == []


async def test_repository_sort_validation(session: AsyncSession) -> None:
    """Sorting by an unknown, disallowed or repeated field raises InvalidQueryError naming it."""
    repo = Repository(session, Item, sortable={"name"}, filterable={"name"})
    with pytest.raises(InvalidQueryError, match="cannot sort Item by field 'qty'"):
        await repo.list(order_by="-qty")
    with pytest.raises(InvalidQueryError, match="cannot filter Item by field 'qty'"):
        await repo.list(qty=1)
    with pytest.raises(InvalidQueryError, match="'name' is given more than once"):
        await repo.list(order_by="name,-name")
    assert [i.name for i in await repo.list(order_by="-name", limit=2)] == ["snake_case", "apple"]


async def test_nullable_sort_puts_nulls_last(session: AsyncSession) -> None:
    """NULLs sort last in both directions (portable across backends)."""
    repo = Repository(session, Item)
    assert [i.qty for i in await repo.list(order_by="note")] == [1, 2, 4, 5, 3]
    assert [i.qty for i in await repo.list(order_by="-note")] == [5, 4, 2, 1, 3]


@pytest.mark.parametrize("value", ["99999999999999999999", 2**63, -(2**63) - 1])
async def test_out_of_range_integers_are_rejected(session: AsyncSession, value: object) -> None:
    """Integers beyond 64 bits raise InvalidQueryError naming the field, not a driver OverflowError."""
    with pytest.raises(InvalidQueryError, match="'qty'.*out of range"):
        await _names(session, Eq("qty", value))
    with pytest.raises(InvalidQueryError, match="'qty'.*out of range"):
        await _names(session, In("qty", [1, value]))
    assert coerce_value(Item, "qty", 2**63 - 1, backend="sqlite") == 2**63 - 1
    assert coerce_value(Item, "qty", 2**31 - 1) == 2**31 - 1


def test_non_sequence_in_values_are_rejected() -> None:
    """In() with a value that is not a list names the field instead of raising TypeError."""
    with pytest.raises(InvalidQueryError, match="'qty'"):
        filter_condition(Item, In("qty", 5))  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError, match="'qty__in'"):
        parse_filters({"qty__in": 5})


def test_values_are_checked_for_every_backend_without_one() -> None:
    """Without a backend, NaN and NUL are refused (some backend cannot store them); PostgreSQL takes NaN."""
    with pytest.raises(InvalidQueryError, match="'weight'.*NaN"):
        filter_condition(Item, Eq("weight", "nan"))
    with pytest.raises(InvalidQueryError, match="'name'.*NUL"):
        filter_condition(Item, Eq("name", "a\x00b"))
    assert str(coerce_value(Item, "weight", "nan", backend="postgresql")) == "nan"
    assert coerce_value(Item, "name", "a\x00b", backend="sqlite") == "a\x00b"


async def test_unbound_session_checks_values_for_every_backend() -> None:
    """A repository on a session without a bind applies every backend's rules (NaN is refused)."""
    unbound = AsyncSession()
    try:
        with pytest.raises(InvalidQueryError, match="'weight'.*NaN"):
            Repository(unbound, Item).select(Eq("weight", "nan"))
        assert "weight" in str(Repository(unbound, Item).select(Eq("weight", "1.5")))
    finally:
        await unbound.close()
