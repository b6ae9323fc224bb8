"""Typed filters and orderings validated against a mapped class.

Every field name is checked against the model's column attributes (and an optional allow-list)
before any SQL is built, and every value is coerced to the column's Python type and sent as a
bound parameter. A bad field, operator or value raises :class:`InvalidQueryError` naming the
field, so an API can answer 400/422 instead of 500, and nothing user-supplied reaches SQL text.
"""

from __future__ import annotations

import enum
import functools
import math
import uuid
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, TypeAlias

from sqlalchemy import ColumnElement, Enum, Select, String, inspect
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator

from internal_rdbms._errors import InvalidQueryError
from internal_rdbms._ordering import Comparison, bind_value, compare
from internal_rdbms._search import TextMatch
from internal_rdbms._values import check_storable

__all__ = [
    "Eq",
    "Filter",
    "In",
    "IsNull",
    "MAX_IN_VALUES",
    "MAX_SEARCH_LENGTH",
    "Ne",
    "OrderBy",
    "Range",
    "Search",
    "SortKey",
    "apply_filters",
    "apply_order",
    "coerce_value",
    "filter_condition",
    "parse_filters",
    "parse_order",
    "primary_key_columns",
    "resolve_column",
    "sort_keys",
]

MAX_IN_VALUES: Final = 1000
MAX_SEARCH_LENGTH: Final = 200
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class Eq:
    """``field = value``; ``value=None`` means ``IS NULL``."""

    field: str
    value: object


@dataclass(frozen=True, slots=True)
class Ne:
    """``field <> value``; ``value=None`` means ``IS NOT NULL``. Rows where ``field`` is NULL do not match."""

    field: str
    value: object


@dataclass(frozen=True, slots=True)
class In:
    """``field IN (values)``; an empty list matches nothing. At most :data:`MAX_IN_VALUES` values."""

    field: str
    values: Sequence[object]


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds on ``field``: any of ``ge`` (>=), ``gt`` (>), ``le`` (<=), ``lt`` (<); at least one."""

    field: str
    ge: object = None
    gt: object = None
    le: object = None
    lt: object = None


@dataclass(frozen=True, slots=True)
class Search:
    """Substring search on a string column; ``%`` and ``_`` in ``term`` match literally.

    The same on every backend: case-sensitive search matches exact code points (also on MariaDB,
    whose collations ignore case, and SQLite, whose ``LIKE`` does); case-insensitive search compares
    ``lower(column)`` with ``lower(term)`` code point by code point, so accents are never folded.

    Attributes:
        field: A string column.
        term: Text to look for (at most :data:`MAX_SEARCH_LENGTH` characters).
        mode: ``"contains"``, ``"startswith"`` or ``"endswith"``.
        case_sensitive: Case-insensitive by default.
    """

    field: str
    term: str
    mode: Literal["contains", "startswith", "endswith"] = "contains"
    case_sensitive: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    """``field IS NULL`` (or ``IS NOT NULL`` with ``is_null=False``)."""

    field: str
    is_null: bool = True


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One sort key; the primary key is always appended as a tiebreaker."""

    field: str
    descending: bool = False


Filter: TypeAlias = Eq | Ne | In | Range | Search | IsNull


def _show(field: object) -> str:
    text = str(field)
    return repr(text if len(text) <= 64 else text[:61] + "...")


_COLUMN_NAMES: weakref.WeakKeyDictionary[type[Any], frozenset[str]] = weakref.WeakKeyDictionary()
_PRIMARY_KEYS: weakref.WeakKeyDictionary[type[Any], tuple[InstrumentedAttribute[Any], ...]] = (
    weakref.WeakKeyDictionary()
)


# ORDER BY clauses are immutable SQL elements: built once per (model, order, allow-list).
_Clauses: TypeAlias = tuple[ColumnElement[Any], ...]
_ORDER_CLAUSES: weakref.WeakKeyDictionary[type[Any], dict[tuple[object, ...], _Clauses]] = (
    weakref.WeakKeyDictionary()
)
_ORDER_CACHE_SIZE: Final = 256


def column_names(model: type[Any]) -> frozenset[str]:
    """Names of the column attributes of ``model`` (computed once per mapped class)."""
    names = _COLUMN_NAMES.get(model)
    if names is None:
        names = _COLUMN_NAMES[model] = frozenset(attr.key for attr in inspect(model).column_attrs)
    return names


def resolve_column(
    model: type[Any],
    field: str,
    *,
    allowed: Collection[str] | None = None,
    purpose: str = "filter",
) -> InstrumentedAttribute[Any]:
    """Return the mapped column attribute ``model.<field>`` after validating the name.

    Args:
        model: A mapped class.
        field: Attribute name as given by the caller (possibly user input).
        allowed: Optional allow-list; by default every column attribute is allowed.
        purpose: ``"filter"`` or ``"order"``, used in the error message.

    Raises:
        InvalidQueryError: Unknown field, not a column, or not in ``allowed``; the message names it.
    """
    columns = column_names(model)
    if isinstance(field, str) and field in columns and (allowed is None or field in allowed):
        attribute: InstrumentedAttribute[Any] = getattr(model, field)
        return attribute
    names = sorted(columns if allowed is None else columns & set(allowed))
    verb = "sort" if purpose == "order" else "filter"
    raise InvalidQueryError(
        f"cannot {verb} {model.__name__} by field {_show(field)}: unknown or not allowed; "
        f"allowed fields: {', '.join(names) or '(none)'}"
    )


def _python_type(column: InstrumentedAttribute[Any]) -> type[Any] | None:
    try:
        python_type: type[Any] = column.type.python_type
    except NotImplementedError:
        return None
    return python_type


def _coerce_str(target: type[Any], value: str) -> object:
    if issubclass(target, bool):
        lowered = value.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError(value)
    if issubclass(target, int):
        return int(value)
    if issubclass(target, float):
        number = float(value)
        if math.isinf(number) and "inf" not in value.lower():  # "1e400" is not infinity: too big
            raise OverflowError(value)
        return number
    if issubclass(target, Decimal):
        return Decimal(value)
    if issubclass(target, uuid.UUID):
        return uuid.UUID(value)
    if issubclass(target, datetime):
        return datetime.fromisoformat(value)
    if issubclass(target, date):
        return date.fromisoformat(value)
    if issubclass(target, time):
        return time.fromisoformat(value)
    if issubclass(target, enum.Enum):
        try:
            return target(value)
        except ValueError:
            return target[value]
    raise ValueError(value)


def _is_instance(value: object, target: type[Any]) -> bool:
    """``isinstance`` without the surprises: a bool is not an int, a datetime is not a date."""
    if not isinstance(value, target):
        return False
    if isinstance(value, bool):
        return target is bool
    return not (isinstance(value, datetime) and not issubclass(target, datetime))


def coerce_value(model: type[Any], field: str, value: object, *, backend: str | None = None) -> object:
    """Convert ``value`` to the Python type of column ``model.<field>`` and check the column can store it.

    Strings are parsed (``"42"`` → 42, ISO dates, UUIDs, ``"true"``, enum values or names); values of
    the right type pass through; ``None`` stays ``None``. Columns without a known Python type accept
    any value. The result must be storable in the column on ``backend`` (``"postgresql"``,
    ``"mysql"``, ``"sqlite"``; ``None`` checks for all of them): integers within the column's width,
    decimals within its precision and finite, floats finite where the backend has no NaN/infinity,
    text without lone surrogates (nor NUL on PostgreSQL), datetimes convertible to UTC, enum strings
    among the declared values.

    Raises:
        InvalidQueryError: The value cannot be converted or stored; names the field and the reason.
    """
    if value is None:
        return None
    column = resolve_column(model, field)
    target = _python_type(column)
    if target is None:
        return value
    coerced = _converted(model, field, target, value)
    return check_storable(model, field, column.type, coerced, backend)


def _converted(model: type[Any], field: str, target: type[Any], value: object) -> object:
    if _is_instance(value, target):
        return value
    try:
        if target is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if target is Decimal and isinstance(value, int | float) and not isinstance(value, bool):
            return Decimal(str(value))
        if isinstance(value, str) and target is not str:
            return _coerce_str(target, value)
    except OverflowError:
        raise InvalidQueryError(
            f"invalid value for field {_show(field)} of {model.__name__}: number out of range"
        ) from None
    except (ValueError, KeyError, InvalidOperation):
        pass
    raise InvalidQueryError(
        f"invalid value for field {_show(field)} of {model.__name__}: expected {target.__name__}, "
        f"got {type(value).__name__}"
    )


def filter_condition(
    model: type[Any], flt: Filter, *, allowed: Collection[str] | None = None, backend: str | None = None
) -> ColumnElement[bool]:
    """Build the SQL condition of one filter (values become bound parameters).

    Ranges compare in the database's own sort order (native enums by declaration, false < true);
    values are checked to be storable on ``backend`` (every backend when ``None``), see
    :func:`coerce_value`.

    Raises:
        InvalidQueryError: Unknown/not allowed field, bad value, empty range, search on a non-string
            column, too many ``In`` values or a too long search term.
    """
    column = resolve_column(model, flt.field, allowed=allowed)
    if isinstance(flt, Eq):
        value = coerce_value(model, flt.field, flt.value, backend=backend)
        return column.is_(None) if value is None else column == bind_value(column.expression, value)
    if isinstance(flt, Ne):
        value = coerce_value(model, flt.field, flt.value, backend=backend)
        return column.is_not(None) if value is None else column != bind_value(column.expression, value)
    if isinstance(flt, In):
        name = _show(flt.field)
        values = [flt.values] if isinstance(flt.values, str | bytes) else _listed(flt.values, name)
        if len(values) > MAX_IN_VALUES:
            raise InvalidQueryError(f"too many values for field {name}: {len(values)} > {MAX_IN_VALUES}")
        coerced = [coerce_value(model, flt.field, item, backend=backend) for item in values]
        return column.in_([bind_value(column.expression, item) for item in coerced])
    if isinstance(flt, Range):
        return _range_condition(model, column, flt, backend)
    if isinstance(flt, Search):
        return _search_condition(model, column, flt, backend)
    if isinstance(flt, IsNull):
        return column.is_(None) if flt.is_null else column.is_not(None)
    raise InvalidQueryError(f"unsupported filter {type(flt).__name__} for field {_show(flt.field)}")


def _listed(values: object, name: str) -> list[object]:
    if not isinstance(values, Iterable):
        raise InvalidQueryError(f"values for field {name} must be a list, not {type(values).__name__}")
    return list(values)


def _range_condition(
    model: type[Any], column: InstrumentedAttribute[Any], flt: Range, backend: str | None
) -> ColumnElement[bool]:
    if flt.ge is not None and flt.gt is not None or flt.le is not None and flt.lt is not None:
        raise InvalidQueryError(
            f"range on field {_show(flt.field)} has both an inclusive and an exclusive bound"
        )
    conditions: list[ColumnElement[bool]] = []
    bounds: tuple[tuple[object, Comparison], ...] = (
        (flt.ge, "ge"),
        (flt.gt, "gt"),
        (flt.le, "le"),
        (flt.lt, "lt"),
    )
    for bound, op in bounds:
        if bound is not None:
            conditions.append(compare(column, op, coerce_value(model, flt.field, bound, backend=backend)))
    if not conditions:
        raise InvalidQueryError(
            f"range on field {_show(flt.field)} needs at least one bound (ge, gt, le, lt)"
        )
    condition = conditions[0]
    for extra in conditions[1:]:
        condition = condition & extra
    return condition


def _search_condition(
    model: type[Any], column: InstrumentedAttribute[Any], flt: Search, backend: str | None
) -> ColumnElement[bool]:
    name = _show(flt.field)
    column_type = column.type
    while isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if (
        _python_type(column) is not str
        or not isinstance(column_type, String)
        or isinstance(column_type, Enum)
    ):
        raise InvalidQueryError(f"cannot search field {name} of {model.__name__}: not a text column")
    if not isinstance(flt.term, str) or not flt.term:
        raise InvalidQueryError(f"search term for field {name} must be a non-empty string")
    if len(flt.term) > MAX_SEARCH_LENGTH:
        raise InvalidQueryError(f"search term for field {name} is longer than {MAX_SEARCH_LENGTH} characters")
    if flt.mode not in ("contains", "startswith", "endswith"):
        raise InvalidQueryError(f"unknown search mode {_show(flt.mode)} for field {name}")
    term = coerce_value(model, flt.field, flt.term, backend=backend)
    return TextMatch(column, str(term), flt.mode, case_sensitive=bool(flt.case_sensitive))


def apply_filters(
    statement: Select[Any],
    model: type[Any],
    filters: Iterable[Filter],
    *,
    allowed: Collection[str] | None = None,
    backend: str | None = None,
) -> Select[Any]:
    """Add every filter to ``statement`` (combined with AND); see :func:`filter_condition`."""
    for flt in filters:
        statement = statement.where(filter_condition(model, flt, allowed=allowed, backend=backend))
    return statement


def primary_key_columns(model: type[Any]) -> list[InstrumentedAttribute[Any]]:
    """The primary key attributes of ``model``, in key order."""
    found = _PRIMARY_KEYS.get(model)
    if found is None:
        mapper = inspect(model)
        found = tuple(getattr(model, mapper.get_property_by_column(col).key) for col in mapper.primary_key)
        _PRIMARY_KEYS[model] = found
    return list(found)


@dataclass(frozen=True, slots=True)
class SortKey:
    """A validated sort key: the column, its direction and whether it can hold NULL."""

    column: InstrumentedAttribute[Any]
    descending: bool
    nullable: bool

    @property
    def field(self) -> str:
        """The attribute name."""
        return self.column.key

    def clauses(self) -> list[ColumnElement[Any]]:
        """ORDER BY clauses; NULLs sort last in both directions on every backend."""
        main = self.column.desc() if self.descending else self.column.asc()
        return [self.column.is_(None).asc(), main] if self.nullable else [main]


def sort_keys(
    model: type[Any], order: Iterable[OrderBy], *, allowed: Collection[str] | None = None
) -> list[SortKey]:
    """Validate ``order`` and append the primary key (ascending) so that the order is total.

    Raises:
        InvalidQueryError: Unknown or not allowed sort field, or a field given twice.
    """
    keys: list[SortKey] = []
    seen: set[str] = set()
    for item in order:
        column = resolve_column(model, item.field, allowed=allowed, purpose="order")
        if item.field in seen:
            raise InvalidQueryError(f"sort field {_show(item.field)} is given more than once")
        seen.add(item.field)
        # An SQL expression (column_property) has no ``nullable``: assume it can be NULL.
        nullable = any(bool(getattr(col, "nullable", True)) for col in column.property.columns)
        keys.append(SortKey(column, item.descending, nullable))
    keys.extend(SortKey(pk, False, False) for pk in primary_key_columns(model) if pk.key not in seen)
    return keys


def apply_order(
    statement: Select[Any],
    model: type[Any],
    order: Iterable[OrderBy],
    *,
    allowed: Collection[str] | None = None,
) -> Select[Any]:
    """Order ``statement`` by ``order`` then by the primary key, NULLs last: a stable, total order."""
    order = tuple(order)
    try:
        cache_key: tuple[object, ...] | None = (order, None if allowed is None else frozenset(allowed))
        hash(cache_key)
    except TypeError:  # an unhashable OrderBy subclass or field: build without the cache
        cache_key = None
    per_model = _ORDER_CLAUSES.get(model)
    clauses = per_model.get(cache_key) if per_model is not None and cache_key is not None else None
    if clauses is None:
        keys = sort_keys(model, order, allowed=allowed)
        clauses = tuple(clause for key in keys for clause in key.clauses())
        if cache_key is not None:
            if per_model is None:
                per_model = _ORDER_CLAUSES[model] = {}
            if len(per_model) >= _ORDER_CACHE_SIZE:
                per_model.clear()
            per_model[cache_key] = clauses
    return statement.order_by(*clauses)


def parse_order(spec: str | Iterable[str | OrderBy] | None) -> list[OrderBy]:
    """Parse ``"-created_at,name"`` (or a list of such items) into :class:`OrderBy` keys.

    A leading ``-`` sorts descending, ``+`` or nothing ascending. Field names are validated later,
    against the model.
    """
    if spec is None:
        return []
    if isinstance(spec, str):
        if len(spec) <= 256:  # a few hundred short specs cached; user input stays bounded
            return list(_parse_order_text(spec))
        return _parse_order_items(spec.split(","))
    return _parse_order_items(spec)


@functools.lru_cache(maxsize=256)
def _parse_order_text(spec: str) -> tuple[OrderBy, ...]:
    return tuple(_parse_order_items(spec.split(",")))


def _parse_order_items(items: Iterable[str | OrderBy]) -> list[OrderBy]:
    result: list[OrderBy] = []
    for item in items:
        if isinstance(item, OrderBy):
            result.append(item)
            continue
        text = item.strip()
        if not text:
            continue
        descending = text.startswith("-")
        field = text[1:] if text[0] in "+-" else text
        result.append(OrderBy(field.strip(), descending=descending))
    return result


_OPERATORS: Final = frozenset(
    {"eq", "ne", "in", "gt", "ge", "lt", "le", "contains", "startswith", "endswith", "isnull"}
)


def parse_filters(params: Mapping[str, object]) -> list[Filter]:
    """Turn query-string style parameters into filters.

    ``{"status": "active", "age__ge": "18", "id__in": "1,2,3", "name__contains": "ann",
    "deleted_at__isnull": "true"}``. Operators: ``eq`` (default), ``ne``, ``in`` (comma-separated
    or a list), ``gt``, ``ge``, ``lt``, ``le``, ``contains``, ``startswith``, ``endswith`` and ``isnull``.
    Values are strings coerced later against the model's column types.

    Raises:
        InvalidQueryError: Unknown operator or a non-boolean ``isnull``; names the parameter.
    """
    filters: list[Filter] = []
    for key, value in params.items():
        field, _, op = key.partition("__")
        op = op or "eq"
        if op not in _OPERATORS:
            raise InvalidQueryError(
                f"unknown filter operator {_show(op)} in parameter {_show(key)}; "
                f"use one of: {', '.join(sorted(_OPERATORS))}"
            )
        filters.append(_parse_one(field, op, key, value))
    return filters


def _parse_one(field: str, op: str, key: str, value: object) -> Filter:
    if op == "eq":
        return Eq(field, value)
    if op == "ne":
        return Ne(field, value)
    if op == "in":
        values = value.split(",") if isinstance(value, str) else _listed(value, _show(key))
        return In(field, tuple(item.strip() if isinstance(item, str) else item for item in values))
    if op in ("gt", "ge", "lt", "le"):
        return Range(field, **{op: value})
    if op == "isnull":
        text = str(value).strip().lower()
        if text not in _TRUE | _FALSE:
            raise InvalidQueryError(f"parameter {_show(key)} must be true or false")
        return IsNull(field, is_null=text in _TRUE)
    return Search(field, str(value), mode=op)  # type: ignore[arg-type]
