"""Storable values: what a column on a given backend can hold, checked before the driver sees it.

A filter or cursor value the column cannot store makes drivers fail in their own ways (asyncpg
rejects NUL characters and out-of-range integers, every driver fails to encode lone surrogates,
MySQL/MariaDB have no NaN or infinity, ``astimezone`` overflows near year 1 and 9999). Each of
these is a client error, so :func:`check_storable` raises :class:`InvalidQueryError` naming the
field before any SQL runs, and the session stays usable. ``backend=None`` applies the rules of
every backend at once.
"""

from __future__ import annotations

import math
import struct
import uuid
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import BigInteger, DateTime, Double, Enum, Float, Integer, Numeric, SmallInteger, Time, Uuid
from sqlalchemy.types import TypeDecorator, TypeEngine

from internal_rdbms._errors import InvalidQueryError

__all__ = ["check_storable", "returned_inexactly", "storable"]

_FLOAT32_MAX: Final = 3.4028234663852886e38
#: Digits PostgreSQL's unconstrained NUMERIC holds before and after the point.
_NUMERIC_INTEGER_DIGITS: Final = 131072
_NUMERIC_FRACTION_DIGITS: Final = 16383
_MYSQL_INTEGER_BITS: Final = {"TINYINT": 8, "MEDIUMINT": 24}
#: MySQL single-byte character sets and the Python codec with the same repertoire.
_CHARSET_CODECS: Final = {"latin1": "cp1252", "ascii": "ascii", "greek": "iso8859_7", "hebrew": "iso8859_8"}


def _impl(column_type: TypeEngine[Any], backend: str | None = None) -> TypeEngine[Any]:
    # ``with_variant`` types keep per-dialect types in ``_variant_mapping`` (no public accessor
    # without a dialect object): the backend's own type decides what it can store.
    variants = getattr(column_type, "_variant_mapping", None)
    if backend is not None and isinstance(variants, dict) and backend in variants:
        column_type = variants[backend]
    while isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return column_type


def _integer_bounds(column_type: TypeEngine[Any], backend: str | None) -> tuple[int, int]:
    if backend == "sqlite" or not isinstance(column_type, Integer):
        bits = 64  # SQLite integers are 64-bit whatever the declared type
    elif isinstance(column_type, SmallInteger):
        bits = 16
    elif isinstance(column_type, BigInteger):
        bits = 64
    else:
        bits = _MYSQL_INTEGER_BITS.get(getattr(column_type, "__visit_name__", "").upper(), 32)
    if getattr(column_type, "unsigned", False) and backend in ("mysql", None):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def returned_inexactly(column_type: TypeEngine[Any], backend: str | None) -> bool:
    """Whether the driver returns this column's values rounded (MySQL/MariaDB ``FLOAT``: 6 digits).

    A cursor must carry the stored value itself; for these columns it is read as ``column + 0E0``.
    """
    return backend == "mysql" and _is_single_precision(_impl(column_type), backend)


def _is_single_precision(column_type: TypeEngine[Any], backend: str | None) -> bool:
    if not isinstance(column_type, Float) or isinstance(column_type, Double):
        return False
    precision = column_type.precision
    if precision is not None:
        return precision <= 24
    # A plain Float is FLOAT (4 bytes) on MySQL/MariaDB, double precision on PostgreSQL.
    return getattr(column_type, "__visit_name__", "") == "REAL" or backend == "mysql"


def _check_float(value: float, column_type: TypeEngine[Any], backend: str | None) -> str | float:
    if math.isnan(value):
        return value if backend == "postgresql" else "NaN is only storable on PostgreSQL"
    if math.isinf(value):
        return value if backend in ("postgresql", "sqlite") else "infinity is not storable on MySQL/MariaDB"
    if _is_single_precision(column_type, backend):
        if abs(value) > _FLOAT32_MAX:
            return "out of range for a single-precision float column"
        if backend == "mysql":
            # MySQL returns FLOAT values rounded to ~7 digits and compares them as doubles: round the
            # value to the float32 the column holds, so that equality and order match ORDER BY.
            rounded: float = struct.unpack("f", struct.pack("f", value))[0]
            return rounded
    return value


def _check_decimal(value: Decimal, column_type: TypeEngine[Any], from_row: bool) -> str | None:
    precision = getattr(column_type, "precision", None)
    if not value.is_finite():
        # PostgreSQL rows may hold NaN (and Infinity without a precision): their cursors must work.
        # As filter values they are refused everywhere: no other backend has them.
        if from_row and value.is_qnan() or from_row and value.is_infinite() and precision is None:
            return None
        return "NaN and infinity are not accepted for a numeric column"
    digits = value.adjusted() + 1 if value else 0
    if isinstance(column_type, Numeric) and precision is not None:
        whole = precision - (getattr(column_type, "scale", None) or 0)
        if digits > whole:
            return f"more than {whole} digits before the decimal point (column precision {precision})"
    if digits > _NUMERIC_INTEGER_DIGITS or -value.as_tuple().exponent > _NUMERIC_FRACTION_DIGITS:  # type: ignore[operator]
        return "too many digits for a numeric column"
    return None


def _charset_rejects(value: str, column_type: TypeEngine[Any]) -> str | None:
    """The charset named by a MySQL-style declared collation (``latin1_swedish_ci``) cannot hold ``value``."""
    collation = getattr(column_type, "collation", None)
    charset = collation.split("_", 1)[0].lower() if isinstance(collation, str) else ""
    if charset in ("utf8", "utf8mb3") and any(ord(char) > 0xFFFF for char in value):
        return f"has characters outside the Basic Multilingual Plane, which {charset} cannot store"
    codec = _CHARSET_CODECS.get(charset)
    if codec is not None:
        try:
            value.encode(codec)
        except UnicodeEncodeError:
            return f"has characters the column's character set {charset} cannot store"
    return None


def _check_text(value: str, column_type: TypeEngine[Any], backend: str | None) -> str | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate, which no database can store"
    if "\x00" in value and backend in ("postgresql", None):
        return "contains a NUL character, which PostgreSQL cannot store"
    if backend in ("mysql", None) and (reason := _charset_rejects(value, column_type)):
        return reason
    if isinstance(column_type, Enum) and value not in column_type.enums:
        return f"not one of {', '.join(column_type.enums)}"
    if isinstance(column_type, Uuid):  # Uuid(as_uuid=False): a string that must still parse
        try:
            uuid.UUID(value)
        except ValueError:
            return "not a UUID"
    return None


def _check_datetime(value: datetime, column_type: TypeEngine[Any], declared: TypeEngine[Any]) -> str | None:
    if value.tzinfo is None:
        return None
    try:
        value.astimezone(UTC)
    except OverflowError:
        return "out of range once converted to UTC"
    naive_column = isinstance(column_type, DateTime) and not column_type.timezone
    if naive_column and not isinstance(declared, TypeDecorator):
        return "this column stores datetimes without a UTC offset; send one without an offset"
    return None


def storable(
    column_type: TypeEngine[Any], value: object, backend: str | None, *, from_row: bool = False
) -> tuple[object, str | None]:
    """``value`` as the column stores it, or the reason it cannot be stored.

    Args:
        column_type: The column's SQLAlchemy type (type decorators are looked through).
        value: A value already coerced to the column's Python type.
        backend: ``"postgresql"``, ``"mysql"``, ``"sqlite"``, or ``None`` for the rules of all.
        from_row: The value comes from a stored row (a cursor): what the backend holds is accepted.

    Returns:
        ``(value, None)`` when storable (floats may come back rounded to the column's precision),
        else ``(value, reason)``.
    """
    impl = _impl(column_type, backend)
    reason: str | None = None
    if isinstance(value, bool) or value is None:
        return value, None
    if isinstance(value, int):
        low, high = _integer_bounds(impl, backend)
        if not low <= value <= high:
            reason = f"integer out of range ({low}..{high})"
    elif isinstance(value, float):
        checked = _check_float(value, impl, backend)
        if isinstance(checked, str):
            reason = checked
        elif isinstance(impl, Numeric) and not isinstance(impl, Float) and math.isfinite(checked):
            reason = _check_decimal(Decimal(repr(checked)), impl, False)  # Numeric(asdecimal=False)
        else:
            value = checked
    elif isinstance(value, Decimal):
        reason = _check_decimal(value, impl, from_row and backend == "postgresql")
    elif isinstance(value, str):
        reason = _check_text(value, impl, backend)
    elif isinstance(value, datetime):
        reason = _check_datetime(value, impl, column_type)
    elif isinstance(value, time) and value.tzinfo is not None:
        if isinstance(impl, Time) and not impl.timezone and not isinstance(column_type, TypeDecorator):
            # Every backend drops the offset silently (02:30+05:00 would find 02:30, not 21:30 UTC).
            reason = "this column stores times without a UTC offset; send one without an offset"
    return value, reason


def check_storable(
    model: type[Any],
    field: str,
    column_type: TypeEngine[Any],
    value: object,
    backend: str | None,
    *,
    from_row: bool = False,
) -> object:
    """:func:`storable`, raising :class:`InvalidQueryError` naming the field when the value is not."""
    stored, reason = storable(column_type, value, backend, from_row=from_row)
    if reason is not None:
        shown = field if len(field) <= 64 else field[:61] + "..."
        raise InvalidQueryError(f"invalid value for field {shown!r} of {model.__name__}: {reason}")
    return stored
