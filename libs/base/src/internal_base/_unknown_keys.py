"""Find keys of a YAML section that no field accepts (typos such as ``pasword:``).

The walk follows the settings class into nested models, also inside lists, tuples, sets,
dict values and ``Optional``/one-model unions. Free-form dicts and models declared with
``extra="allow"`` accept any key; a union of several models is not guessed at, and neither is
the input of a before/wrap validator (it may accept old names or another shape).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AliasChoices, AliasPath, BaseModel

Path = tuple[str | int, ...]

_SEQUENCES = (list, tuple, set, frozenset, Sequence, typing.Sequence)
_MAPPINGS = (dict, Mapping, typing.Mapping)


def _alias_names(alias: object) -> Iterator[str]:
    if isinstance(alias, str):
        yield alias
    elif isinstance(alias, AliasChoices):
        for choice in alias.choices:
            yield from _alias_names(choice)
    elif isinstance(alias, AliasPath) and alias.path and isinstance(alias.path[0], str):
        yield alias.path[0]


def accepted_keys(model: type[BaseModel]) -> dict[str, str]:
    """Map every key that populates a field of ``model`` (name or alias) to the field name."""
    keys: dict[str, str] = {}
    for name, field in model.model_fields.items():
        keys[name] = name
        for alias in (field.alias, field.validation_alias):
            keys.update(dict.fromkeys(_alias_names(alias), name))
    return keys


def nearest(key: str, candidates: Sequence[str]) -> str | None:
    """The closest candidate to ``key`` (difflib), or None when nothing is close."""
    matches = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not matches:
        matches = [c for c in candidates if c.lower() == key.lower()]
    return matches[0] if matches else None


def _reshapes(model: type[BaseModel], field: str | None = None) -> bool:
    """Whether a before/wrap validator of ``model`` (or of its ``field``) may rewrite the input.

    Such a validator can accept keys that are not fields (an old name, another shape), so its
    input is not second-guessed here; pydantic still validates what comes out of it.
    """
    decorators = getattr(model, "__pydantic_decorators__", None)
    if decorators is None:
        return False
    if field is None:
        return any(d.info.mode in ("before", "wrap") for d in decorators.model_validators.values())
    return any(
        d.info.mode in ("before", "wrap", "plain") and (field in d.info.fields or "*" in d.info.fields)
        for d in decorators.field_validators.values()
    )


def unknown_keys(
    model: type[BaseModel],
    data: Mapping[Any, Any],
    path: Path = (),
    *,
    allowed: frozenset[str] = frozenset(),
    _open: frozenset[int] = frozenset(),
) -> Iterator[tuple[Path, str | None]]:
    """Yield ``(path, nearest valid key)`` for every key of ``data`` that ``model`` does not accept.

    Args:
        model: The model (or settings class) the mapping is validated against.
        data: The mapping read from YAML.
        path: Where ``data`` sits (for the reported paths).
        allowed: Extra keys accepted at this level (sections of other settings classes).
    """
    if model.model_config.get("extra") == "allow" or getattr(model, "__pydantic_root_model__", False):
        return
    if _reshapes(model) or id(data) in _open:
        return  # a YAML alias that contains itself: validation reports the cycle
    inside = _open | {id(data)}
    keys = accepted_keys(model)
    for key, value in data.items():
        name = keys.get(key) if isinstance(key, str) else None
        if name is None:
            if key not in allowed:
                yield (*path, str(key)), nearest(str(key), sorted(keys))
            continue
        if not _reshapes(model, name):
            yield from _walk(model.model_fields[name].annotation, value, (*path, key), inside)


def unknown_field_keys(model: type[BaseModel], data: Mapping[Any, Any]) -> Iterator[tuple[Path, str | None]]:
    """Like :func:`unknown_keys`, but only below the fields of ``data`` that ``model`` knows.

    For sources whose top level is a shared namespace (the environment, a ``.env`` file).
    """
    keys = accepted_keys(model)
    for key, value in data.items():
        name = keys.get(key) if isinstance(key, str) else None
        if name is not None and not _reshapes(model, name):
            yield from _walk(model.model_fields[name].annotation, value, (key,), frozenset())


def _walk(
    annotation: Any, value: object, path: Path, inside: frozenset[int]
) -> Iterator[tuple[Path, str | None]]:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        yield from _walk(args[0], value, path, inside)
    elif origin is Union or origin is types.UnionType:
        concrete = [arg for arg in args if arg is not type(None)]
        if len(concrete) == 1:
            yield from _walk(concrete[0], value, path, inside)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(value, Mapping):
            yield from unknown_keys(annotation, value, path, _open=inside)
    elif isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if isinstance(value, Mapping):
            names = [field.name for field in dataclasses.fields(annotation)]
            for key in value:
                if key not in names:
                    yield (*path, str(key)), nearest(str(key), names)
    elif id(value) in inside:
        return
    elif origin in _SEQUENCES and isinstance(value, list) and args:
        fixed = origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)
        for index, item in enumerate(value):
            item_type = (args[index] if index < len(args) else None) if fixed else args[0]
            if item_type is not None:
                yield from _walk(item_type, item, (*path, index), inside | {id(value)})
    elif origin in _MAPPINGS and isinstance(value, Mapping) and len(args) == 2:
        for key, item in value.items():
            yield from _walk(args[1], item, (*path, str(key)), inside | {id(value)})
