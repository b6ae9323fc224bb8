"""Python values ⇄ DynamoDB attribute values, with floats handled instead of rejected.

boto3's ``TypeSerializer`` refuses ``float`` (DynamoDB numbers are decimal). Here a float is
converted through its shortest ``repr`` (``0.1`` → ``Decimal("0.1")``, never
``0.1000000000000000055...``); NaN and infinities, which DynamoDB cannot store, raise
``AwsSerializationError``. Numbers come back as ``Decimal`` (lossless) or, with
``numbers="native"``, as ``int`` when integral and ``float`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any, Final, Literal

from boto3.dynamodb.types import (  # type: ignore[import-untyped, unused-ignore]
    Binary,
    TypeDeserializer,
    TypeSerializer,
)

from internal_aws._errors import AwsSerializationError

__all__ = ["NumberMode", "deserialize_item", "deserialize_value", "serialize_item", "serialize_value"]

NumberMode = Literal["decimal", "native"]

_SERIALIZER: Final = TypeSerializer()
_DESERIALIZER: Final = TypeDeserializer()


def _float(value: float) -> Decimal:
    if math.isnan(value) or math.isinf(value):
        raise AwsSerializationError(f"DynamoDB cannot store the float {value!r}")
    return Decimal(repr(value))


def _prepare(value: Any) -> Any:
    """Replace floats by Decimals (recursively) and tuples by lists."""
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        return {key: _prepare(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(item) for item in value]
    if isinstance(value, Set):
        if not value:
            raise AwsSerializationError("cannot serialize an empty set: DynamoDB has no empty sets")
        return {_prepare(item) for item in value}
    return value


def serialize_value(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value (``{"S": "x"}``, ``{"N": "1.5"}`` ...).

    Raises:
        AwsSerializationError: Unsupported type, empty set, NaN/infinity, or a number DynamoDB
            cannot represent (more than 38 significant digits).
    """
    try:
        result: dict[str, Any] = _SERIALIZER.serialize(_prepare(value))
    except AwsSerializationError:
        raise
    except Exception as exc:
        raise AwsSerializationError(f"cannot serialize a {type(value).__name__}: {exc}") from exc
    return result


def serialize_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A whole item (or key) as a mapping of attribute values."""
    return {str(name): serialize_value(value) for name, value in item.items()}


def _unwrap(value: Any, native: bool) -> Any:
    """Binary → bytes everywhere; with ``native``, Decimal → int/float."""
    if isinstance(value, Binary):
        return bytes(value.value)
    if native and isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _unwrap(item, native) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item, native) for item in value]
    if isinstance(value, set):
        return {_unwrap(item, native) for item in value}
    return value


def deserialize_value(value: Mapping[str, Any], *, numbers: NumberMode = "decimal") -> Any:
    """One DynamoDB attribute value as a Python value (bytes for ``B``, ``set`` for ``SS``/``NS``/``BS``).

    Raises:
        AwsSerializationError: The attribute value is malformed.
    """
    try:
        result = _DESERIALIZER.deserialize(dict(value))
    except Exception as exc:
        raise AwsSerializationError(f"cannot deserialize attribute value: {exc}") from exc
    return _unwrap(result, numbers == "native")


def deserialize_item(item: Mapping[str, Any], *, numbers: NumberMode = "decimal") -> dict[str, Any]:
    """A whole item from attribute values to Python values."""
    return {str(name): deserialize_value(value, numbers=numbers) for name, value in item.items()}
