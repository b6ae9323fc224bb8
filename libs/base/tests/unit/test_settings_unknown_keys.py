"""Tests for the unknown-key walk over aliases, dataclasses and fixed tuples."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import pytest
from pydantic import AliasChoices, AliasPath, BaseModel, Field, field_validator, model_validator

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


class Legacy(BaseModel):
    """A model whose before-validator reads an old key name."""

    size: int = 1

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "old_size" in data:
            return {"size": data["old_size"]}
        return data


class Converted(BaseModel):
    """A model with a field whose before-validator reshapes its input."""

    item: Item = Field(default_factory=Item)

    @field_validator("item", mode="before")
    @classmethod
    def _from_other(cls, value: Any) -> Any:
        if isinstance(value, dict) and "weight" in value:
            return {"size": value["weight"]}
        return value


class Holder(BaseModel):
    """Holds the models above."""

    legacy: Legacy = Field(default_factory=Legacy)
    converted: Converted = Field(default_factory=Converted)


def test_model_with_a_before_validator_is_not_second_guessed() -> None:
    """Keys a model's before-validator may accept (old names) are not reported."""
    assert list(unknown_keys(Holder, {"legacy": {"old_size": 3}})) == []


def test_field_with_a_before_validator_is_not_second_guessed() -> None:
    """Keys a field's before-validator may reshape are not reported."""
    assert list(unknown_keys(Holder, {"converted": {"item": {"weight": 2}}})) == []
