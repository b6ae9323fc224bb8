"""Keyset cursors: the sort values of a row, typed exactly, signed with :mod:`internal_base.cursor`.

A cursor is ``CursorCodec.encode({"v": [...]}, purpose=...)`` where the purpose names the model and
the sort order, so a cursor issued for another model or order fails verification. Each value is
written so that it decodes to exactly the value the row held: enums by member *name* (never by
value, which may equal another member's name), floats as JSON numbers including ``Infinity`` and
``NaN``, decimals, UUIDs and datetimes as strings, intervals as microseconds. Decoded values go
through the same storable-value checks as filter values.

The codec comes from the ``codec`` argument, else from ``session.info`` (sessions of
:class:`~internal_rdbms.Database` carry one made from ``RdbmsSettings.cursor_secret``), else a
codec with a random per-process key.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy.exc import UnboundExecutionError
from sqlalchemy.ext.asyncio import AsyncSession

from internal_base.cursor import CursorCodec, InvalidCursorError
from internal_rdbms._errors import InvalidQueryError
from internal_rdbms._filters import SortKey, _python_type
from internal_rdbms._values import check_storable

__all__ = [
    "CURSOR_CODEC_KEY",
    "MAX_CURSOR_LENGTH",
    "backend_of",
    "check_cursor_keys",
    "codec_for",
    "decode_cursor",
    "encode_cursor",
]

#: ``session.info`` key under which :class:`~internal_rdbms.Database` sessions carry their codec.
CURSOR_CODEC_KEY: Final = "internal_rdbms.cursor_codec"
MAX_CURSOR_LENGTH: Final = 4096
_MICROSECONDS: Final = timedelta(microseconds=1)


def backend_of(session: AsyncSession) -> str | None:
    """``"postgresql"``, ``"mysql"`` (MariaDB too) or ``"sqlite"``; ``None`` when the session has no bind."""
    try:
        name = session.get_bind().dialect.name
    except UnboundExecutionError:  # no bind configured: check values for every backend
        return None
    return "mysql" if name == "mariadb" else name


def codec_for(session: AsyncSession, codec: CursorCodec | None) -> CursorCodec:
    """The codec to sign cursors with: the argument, the session's, or a per-process one."""
    if codec is not None:
        return codec
    found = session.info.get(CURSOR_CODEC_KEY)
    return found if isinstance(found, CursorCodec) else CursorCodec(max_length=MAX_CURSOR_LENGTH)


_CURSOR_TYPES: Final = (
    bool,
    int,
    float,
    Decimal,
    str,
    datetime,
    date,
    time,
    timedelta,
    uuid.UUID,
    bytes,
    enum.Enum,
)


def check_cursor_keys(model: type[Any], keys: Sequence[SortKey]) -> None:
    """Refuse sort keys whose values cannot go into a cursor (JSON, arrays ...) before the first page.

    Raises:
        InvalidQueryError: Names the field.
    """
    for key in keys:
        target = _python_type(key.column)
        if target is None or not issubclass(target, _CURSOR_TYPES):
            raise InvalidQueryError(
                f"cannot page {model.__name__} by field {key.field!r} with a cursor: its type has no order"
            )


def _purpose(model: type[Any], keys: Sequence[SortKey]) -> str:
    spec = ",".join(f"{'-' if key.descending else ''}{key.field}" for key in keys)
    return f"internal_rdbms:{model.__module__}.{model.__qualname__}:{spec}"


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):  # first: an IntEnum is an int, a StrEnum a str
        return value.name
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value // _MICROSECONDS
    if isinstance(value, bytes):
        return value.hex()
    raise InvalidQueryError(f"cannot build a cursor from a sort value of type {type(value).__name__}")


def encode_cursor(
    model: type[Any],
    keys: Sequence[SortKey],
    row: object,
    codec: CursorCodec | None = None,
    exact: Mapping[str, object] | None = None,
) -> str:
    """The signed cursor pointing just after ``row`` for the order ``keys``.

    Args:
        model: The mapped class.
        keys: The sort keys (primary key included).
        row: The last row of the page.
        codec: Signs the cursor (default: a random per-process key).
        exact: Stored values of keys whose values the driver returned rounded, by field.

    Raises:
        InvalidQueryError: A sort value cannot go into a cursor (unknown type, or too long).
    """
    exact = exact or {}
    values = [_plain(exact[key.field] if key.field in exact else getattr(row, key.field)) for key in keys]
    try:
        return (codec or CursorCodec(max_length=MAX_CURSOR_LENGTH)).encode(
            {"v": values}, purpose=_purpose(model, keys)
        )
    except ValueError:
        raise InvalidQueryError("the sort values of this page are too long to make a cursor") from None


def _typed(target: type[Any] | None, raw: object) -> object:
    """``raw`` (from JSON) as an instance of ``target``; ValueError when it is not one."""
    if target is None:
        return raw
    if target is bool or issubclass(target, bool):
        if isinstance(raw, bool):
            return raw
    elif isinstance(raw, bool):
        pass
    elif issubclass(target, enum.Enum) and isinstance(raw, str):
        return target[raw]
    elif issubclass(target, float) and isinstance(raw, int | float):
        return float(raw)
    elif issubclass(target, int) and isinstance(raw, int):
        return raw
    elif issubclass(target, timedelta) and isinstance(raw, int):
        return raw * _MICROSECONDS
    elif isinstance(raw, str):
        return _parsed(target, raw)
    raise ValueError(raw)


def _parsed(target: type[Any], raw: str) -> object:
    if issubclass(target, str):
        return raw
    if issubclass(target, datetime):
        return datetime.fromisoformat(raw)
    if issubclass(target, date):
        return date.fromisoformat(raw)
    if issubclass(target, time):
        return time.fromisoformat(raw)
    if issubclass(target, Decimal):
        return Decimal(raw)
    if issubclass(target, uuid.UUID):
        return uuid.UUID(raw)
    if issubclass(target, bytes):
        return bytes.fromhex(raw)
    raise ValueError(raw)


def decode_cursor(
    model: type[Any],
    keys: Sequence[SortKey],
    cursor: str,
    codec: CursorCodec | None = None,
    *,
    backend: str | None = None,
) -> list[object]:
    """The sort values stored in ``cursor``, typed like the columns and storable on ``backend``.

    Raises:
        InvalidQueryError: Malformed, edited or foreign cursor (another key, model or order), or
            values that do not fit the columns.
    """
    if not isinstance(cursor, str) or not cursor:
        raise InvalidQueryError("invalid cursor: empty or not a string")
    try:
        payload = (codec or CursorCodec(max_length=MAX_CURSOR_LENGTH)).decode(
            cursor, purpose=_purpose(model, keys)
        )
    except InvalidCursorError as exc:
        raise InvalidQueryError(f"{exc} (or for a different sort order)") from None
    raw_values = payload.get("v")
    if not isinstance(raw_values, list) or len(raw_values) != len(keys):
        raise InvalidQueryError("invalid cursor: unreadable content")
    values: list[object] = []
    for key, raw in zip(keys, raw_values, strict=True):
        if raw is None:
            if not key.nullable:
                raise InvalidQueryError(f"invalid cursor: missing value for sort field {key.field!r}")
            values.append(None)
            continue
        try:
            value = _typed(_python_type(key.column), raw)
        except (ValueError, KeyError, TypeError, OverflowError, InvalidOperation):
            raise InvalidQueryError(f"invalid cursor: bad value for sort field {key.field!r}") from None
        values.append(check_storable(model, key.field, key.column.type, value, backend, from_row=True))
    return values
