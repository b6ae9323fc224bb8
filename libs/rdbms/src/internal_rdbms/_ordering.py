"""Comparisons that agree with the database's own ``ORDER BY`` for every column type.

Keyset cursors and range filters compare a column with a value. Unless that comparison puts rows
in exactly the order of ``ORDER BY column`` on the same backend, pages lose or repeat rows:

- native enums (PostgreSQL ``CREATE TYPE ... AS ENUM``, MySQL/MariaDB ``ENUM``) sort by declaration.
  PostgreSQL compares them by declaration too; MySQL/MariaDB compare an ``ENUM`` with a string as
  text, so there the comparison is made on the declaration index (``column + 0``) instead;
- non-native enums (``native_enum=False``, and every enum on SQLite) are strings: they sort and
  compare by the stored string, under the column's collation;
- booleans sort false before true, but SQLAlchemy refuses ``>`` on them: ranges are spelled with
  ``=`` and ``IS NOT NULL``;
- everything else compares with the operator itself, so the database applies the column's own
  collation (case-insensitive on MariaDB by default) to both the sort and the comparison.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable
from typing import Any, Final, Literal, TypeAlias

from sqlalchemy import Boolean, ColumnElement, Enum, Float, Integer, Numeric, false, literal, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["Comparison", "bind_value", "compare", "enum_stored_value"]

Comparison: TypeAlias = Literal["eq", "gt", "ge", "lt", "le"]

_OPERATORS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def enum_stored_value(column_type: Enum, value: object) -> str:
    """The string SQLAlchemy stores for ``value`` (a member name, or its value with ``values_callable``)."""
    if isinstance(value, enum.Enum) and column_type.enum_class is not None:
        members = list(column_type.enum_class.__members__.values())
        for member, stored in zip(members, column_type.enums, strict=False):
            if member is value:
                return stored
    return str(value)


class _NativeEnumComparison(ColumnElement[bool]):
    """``column <op> value`` on a native enum, in declaration order on every backend that has one."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own class-level traversal spec
        ("column", InternalTraversal.dp_clauseelement),
        ("comparison", InternalTraversal.dp_string),
        ("value", InternalTraversal.dp_clauseelement),
        ("position", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], comparison: str, value: object, position: int) -> None:
        self.column = column
        self.comparison = comparison
        self.value = literal(value, type_=column.type)
        self.position = literal(position, type_=Integer())


@compiles(_NativeEnumComparison)
def _compile_enum(element: _NativeEnumComparison, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL compares enum values by declaration; SQLite has no native enum (a string).
    condition = _OPERATORS[element.comparison](element.column, element.value)
    return compiler.process(condition, **kw)


@compiles(_NativeEnumComparison, "mysql")
@compiles(_NativeEnumComparison, "mariadb")
def _compile_enum_mysql(element: _NativeEnumComparison, compiler: SQLCompiler, **kw: Any) -> str:
    # ``enum_column + 0`` is the 1-based declaration index, the key MySQL/MariaDB sort ENUMs by.
    index = type_coerce(element.column, Integer()) + 0
    return compiler.process(_OPERATORS[element.comparison](index, element.position), **kw)


def _boolean(column: ColumnElement[Any], op: Comparison, value: bool) -> ColumnElement[bool]:
    """``column <op> value`` for booleans, where false < true."""
    if op == "eq":
        return column == value
    if op in ("ge", "le") and value == (op == "le"):  # >= false, <= true: every non-NULL row
        return column.is_not(None)
    if op in ("ge", "le"):  # >= true, <= false: just that value
        return column == value
    if value == (op == "lt"):  # > false, < true: the other value
        return column == (not value)
    return false()  # > true, < false: nothing


def bind_value(column: ColumnElement[Any], value: object) -> object:
    """``value`` ready to compare with ``column``: as it is, or as a bound parameter that keeps its digits.

    PostgreSQL casts a parameter to the column's type, ``$1::NUMERIC(10, 3)``, which rounds a value
    with more decimals than the scale (``1.0004`` would equal a stored ``1.000``, and ``9999999.9995``
    would overflow): for a ``Numeric`` column with a scale the value is bound as plain ``NUMERIC``.
    """
    column_type = column.type
    if type(column_type) is Numeric and not isinstance(column_type, Float) and column_type.scale is not None:
        return literal(value, type_=Numeric(asdecimal=bool(column_type.asdecimal)))  # type: ignore[call-overload]
    return value


def compare(
    attribute: ColumnElement[Any] | InstrumentedAttribute[Any], op: Comparison, value: object
) -> ColumnElement[bool]:
    """``column <op> value`` in the order the database's ``ORDER BY column`` uses.

    Args:
        column: A mapped column attribute (or column).
        op: ``"eq"``, ``"gt"``, ``"ge"``, ``"lt"`` or ``"le"``.
        value: A non-``None`` value already coerced to the column's Python type.
    """
    column: ColumnElement[Any] = attribute.expression
    column_type = column.type
    if isinstance(column_type, Boolean) and isinstance(value, bool):
        return _boolean(column, op, value)
    if isinstance(column_type, Enum) and column_type.native_enum:
        stored = enum_stored_value(column_type, value)
        if stored in column_type.enums:
            return _NativeEnumComparison(column, op, value, column_type.enums.index(stored) + 1)
    condition: ColumnElement[bool] = _OPERATORS[op](column, bind_value(column, value))
    return condition
