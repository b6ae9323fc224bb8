"""Tests for the unknown-key walk over aliases, dataclasses and fixed tuples."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import pytest
from pydantic import AliasChoices, AliasPath, BaseModel, Field

from internal_base._unknown_keys import accepted_keys, unknown_keys


@dataclasses.dataclass
class Endpoint:
    """A dataclass used as a field type."""

    host: str = "h"
    port: int = 1


class Item(BaseModel):
    """A nested model."""

    size: int = 1


class Model(BaseModel):
    """A model with aliases, a dataclass and tuples of models."""

    choice: str = Field(default="", validation_alias=AliasChoices("choice", "pick", AliasPath("deep", 0)))  # type: ignore[pydantic-alias]
    endpoint: Endpoint = Field(default_factory=Endpoint)
    pair: tuple[Item, Annotated[Item, "meta"]] = (Item(), Item())
    many: tuple[Item, ...] = ()
    either: Item | Endpoint | None = None


def test_alias_choices_and_alias_path_heads_are_accepted() -> None:
    """Every alias choice and an alias path's first key populate the field."""
    assert {key for key, name in accepted_keys(Model).items() if name == "choice"} == {
        "choice",
        "pick",
        "deep",
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"endpoint": {"hots": "x"}}, [(("endpoint", "hots"), "host")]),
        ({"pair": [{"size": 1}, {"sise": 2}]}, [(("pair", 1, "sise"), "size")]),
        ({"pair": [{}, {}, {"extra": 1}]}, []),
        ({"many": [{"sizes": 1}]}, [(("many", 0, "sizes"), "size")]),
        ({"either": {"anything": 1}}, []),
        ({"PICK": "x"}, [(("PICK",), "pick")]),
    ],
)
def test_unknown_keys_in_nested_shapes(data: dict[str, object], expected: list[object]) -> None:
    """Typos are found in dataclasses, fixed and variadic tuples; ambiguous unions are skipped."""
    assert list(unknown_keys(Model, data)) == expected
