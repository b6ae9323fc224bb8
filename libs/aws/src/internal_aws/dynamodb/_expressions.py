"""Expression attribute names/values and generated update expressions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from internal_aws._errors import SerializationError
from internal_aws.dynamodb._serialization import serialize_value

__all__ = ["Expressions", "update_expression"]


@dataclass
class Expressions:
    """Collects ``ExpressionAttributeNames`` and ``ExpressionAttributeValues`` for one request.

    Names may be given with or without the leading ``#`` and values with or without ``:``.
    """

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_names(self, names: Mapping[str, str] | None) -> None:
        """Add caller-supplied names (``{"#s": "status"}`` or ``{"s": "status"}``)."""
        for key, name in (names or {}).items():
            self.names[key if key.startswith("#") else f"#{key}"] = name

    def add_values(self, values: Mapping[str, Any] | None) -> None:
        """Add caller-supplied values, serialized (``{":v": 1}`` or ``{"v": 1}``)."""
        for key, value in (values or {}).items():
            self.values[key if key.startswith(":") else f":{key}"] = serialize_value(value)

    def params(self) -> dict[str, Any]:
        """The request parameters (only the non-empty ones)."""
        params: dict[str, Any] = {}
        if self.names:
            params["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            params["ExpressionAttributeValues"] = dict(self.values)
        return params


def update_expression(
    expressions: Expressions,
    updates: Mapping[str, Any] | None,
    remove: Sequence[str],
    add: Mapping[str, Any] | None,
) -> str:
    """Build ``SET #u0 = :u0, ... REMOVE #r0 ... ADD #a0 :a0`` with placeholders for every attribute.

    Raises:
        SerializationError: Nothing to update, or an attribute appears twice.
    """
    clauses: list[str] = []
    seen: set[str] = set()

    def name(prefix: str, index: int, attribute: str) -> str:
        if attribute in seen:
            raise SerializationError(f"attribute {attribute!r} appears more than once in the update")
        seen.add(attribute)
        placeholder = f"#{prefix}{index}"
        expressions.names[placeholder] = attribute
        return placeholder

    if updates:
        parts = []
        for index, (attribute, value) in enumerate(updates.items()):
            placeholder = name("u", index, attribute)
            expressions.values[f":u{index}"] = serialize_value(value)
            parts.append(f"{placeholder} = :u{index}")
        clauses.append("SET " + ", ".join(parts))
    if remove:
        clauses.append("REMOVE " + ", ".join(name("r", i, attribute) for i, attribute in enumerate(remove)))
    if add:
        parts = []
        for index, (attribute, value) in enumerate(add.items()):
            placeholder = name("a", index, attribute)
            expressions.values[f":a{index}"] = serialize_value(value)
            parts.append(f"{placeholder} :a{index}")
        clauses.append("ADD " + ", ".join(parts))
    if not clauses:
        raise SerializationError("an update needs at least one of updates, remove, add or expression")
    return " ".join(clauses)
