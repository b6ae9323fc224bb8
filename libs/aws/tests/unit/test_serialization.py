"""DynamoDB type serialization: floats, Decimals, sets, bytes, nesting, and the errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from internal_aws import AwsSerializationError
from internal_aws.dynamodb import deserialize_item, deserialize_value, serialize_item, serialize_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, {"N": "0.1"}),
        (1e-7, {"N": "1E-7"}),
        (2.5, {"N": "2.5"}),
        (Decimal("3.14159"), {"N": "3.14159"}),
        (42, {"N": "42"}),
        (True, {"BOOL": True}),
        ("text", {"S": "text"}),
        (b"\x00\xff", {"B": b"\x00\xff"}),
        (None, {"NULL": True}),
    ],
)
def test_scalars(value: Any, expected: dict[str, Any]) -> None:
    """Scalars map to DynamoDB types; floats become the decimal they print as."""
    assert serialize_value(value) == expected


def test_float_is_exact_not_binary_expansion() -> None:
    """0.1 is stored as "0.1", never as 0.1000000000000000055511151231257827."""
    assert deserialize_value(serialize_value(0.1)) == Decimal("0.1")


def test_nested_structures_convert_floats_everywhere() -> None:
    """Floats inside maps, lists, tuples and sets are converted too."""
    item = {"m": {"x": 1.5, "l": [0.25, (1, 2.0)]}, "ns": {0.5, 1.5}}
    serialized = serialize_item(item)
    assert serialized["m"] == {
        "M": {"x": {"N": "1.5"}, "l": {"L": [{"N": "0.25"}, {"L": [{"N": "1"}, {"N": "2.0"}]}]}}
    }
    assert sorted(serialized["ns"]["NS"]) == ["0.5", "1.5"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_rejected(value: float) -> None:
    """DynamoDB cannot store NaN or infinities."""
    with pytest.raises(AwsSerializationError, match="cannot store"):
        serialize_value({"x": [value]})


@pytest.mark.parametrize("value", [object(), set(), Decimal("1." + "1" * 40)])
def test_unsupported_values_raise_serialization_error(value: Any) -> None:
    """Unknown types, empty sets and over-precise numbers raise AwsSerializationError (a ValueError)."""
    with pytest.raises(AwsSerializationError, match="cannot serialize"):
        serialize_value(value)
    assert issubclass(AwsSerializationError, ValueError)


def test_round_trip_decimal_mode() -> None:
    """Numbers come back as Decimal by default, bytes as bytes, sets as sets."""
    item = {
        "pk": "a",
        "n": 7,
        "f": 0.5,
        "b": b"xy",
        "ss": {"p", "q"},
        "bs": {b"1"},
        "l": [b"z"],
        "none": None,
    }
    back = deserialize_item(serialize_item(item))
    assert back == {
        "pk": "a",
        "n": Decimal(7),
        "f": Decimal("0.5"),
        "b": b"xy",
        "ss": {"p", "q"},
        "bs": {b"1"},
        "l": [b"z"],
        "none": None,
    }
    assert isinstance(back["b"], bytes)


def test_round_trip_native_mode() -> None:
    """numbers="native" turns integral numbers into int and others into float."""
    item = {"n": 7, "f": 0.5, "m": {"l": [Decimal("2"), Decimal("2.5")]}, "ns": {1, 2}}
    back = deserialize_item(serialize_item(item), numbers="native")
    assert back == {"n": 7, "f": 0.5, "m": {"l": [2, 2.5]}, "ns": {1, 2}}
    assert isinstance(back["n"], int)
    assert isinstance(back["f"], float)


def test_malformed_attribute_value() -> None:
    """An unknown type tag raises AwsSerializationError."""
    with pytest.raises(AwsSerializationError, match="cannot deserialize"):
        deserialize_value({"XX": "1"})
