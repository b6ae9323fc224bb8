"""Expression attribute names/values and generated update expressions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from internal_aws._errors import AwsSerializationError
from internal_aws.dynamodb._serialization import serialize_value

__all__ = ["Expressions", "update_expression"]


@dataclass
class Expressions:
    """Collects ``ExpressionAttributeNames`` and ``ExpressionAttributeValues`` for one request.

    Names may be given with or without the leading ``#`` and values with or without ``:``.
    Generated placeholders (:meth:`name_placeholder`, :meth:`value_placeholder`) skip every
    placeholder already present, so they never replace a caller's.
    """

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_names(self, names: Mapping[str, str] | None) -> None:
        """Add caller-supplied names (``{"#s": "status"}`` or ``{"s": "status"}``)."""
        for key, name in (names or {}).items():
            _put(self.names, key if key.startswith("#") else f"#{key}", name)

    def add_values(self, values: Mapping[str, Any] | None) -> None:
        """Add caller-supplied values, serialized (``{":v": 1}`` or ``{"v": 1}``)."""
        for key, value in (values or {}).items():
            _put(self.values, key if key.startswith(":") else f":{key}", serialize_value(value))

    def name_placeholder(self, prefix: str, attribute: str) -> str:
        """A new ``#<prefix><n>`` placeholder for ``attribute``, unused so far."""
        placeholder = _fresh(self.names, f"#{prefix}")
        self.names[placeholder] = attribute
        return placeholder

    def value_placeholder(self, prefix: str, value: Any) -> str:
        """A new ``:<prefix><n>`` placeholder for ``value`` (serialized), unused so far."""
        placeholder = _fresh(self.values, f":{prefix}")
        self.values[placeholder] = serialize_value(value)
        return placeholder

    def params(self) -> dict[str, Any]:
        """The request parameters (only the non-empty ones)."""
        params: dict[str, Any] = {}
        if self.names:
            params["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            params["ExpressionAttributeValues"] = dict(self.values)
        return params


def _put(target: dict[str, Any], placeholder: str, value: Any) -> None:
    if placeholder in target:
        raise AwsSerializationError(
            f"expression placeholder {placeholder!r} is given twice (with and without prefix)"
        )
    target[placeholder] = value


def _fresh(used: Mapping[str, Any], stem: str) -> str:
    index = 0
    while f"{stem}{index}" in used:
        index += 1
    return f"{stem}{index}"


def update_expression(
    expressions: Expressions,
    updates: Mapping[str, Any] | None,
    remove: Sequence[str],
    add: Mapping[str, Any] | None,
) -> str:
    """Build ``SET #u0 = :u0, ... REMOVE #r0 ... ADD #a0 :a0`` with placeholders for every attribute.

    The placeholders are generated around the caller's (already in ``expressions``), never over them.

    Raises:
        AwsSerializationError: Nothing to update, or an attribute appears twice.
    """
    clauses: list[str] = []
    seen: set[str] = set()

    def name(prefix: str, attribute: str) -> str:
        if attribute in seen:
            raise AwsSerializationError(f"attribute {attribute!r} appears more than once in the update")
        seen.add(attribute)
        return expressions.name_placeholder(prefix, attribute)

    if updates:
        sets = [f"{name('u', a)} = {expressions.value_placeholder('u', v)}" for a, v in updates.items()]
        clauses.append("SET " + ", ".join(sets))
    if remove:
        clauses.append("REMOVE " + ", ".join(name("r", attribute) for attribute in remove))
    if add:
        adds = [f"{name('a', a)} {expressions.value_placeholder('a', v)}" for a, v in add.items()]
        clauses.append("ADD " + ", ".join(adds))
    if not clauses:
        raise AwsSerializationError("an update needs at least one of updates, remove, add or expression")
    return " ".join(clauses)
