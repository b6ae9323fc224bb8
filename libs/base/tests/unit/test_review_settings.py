"""Review cases of settings files: YAML alias bombs and alias chains fail fast, naming file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from internal_base.errors import ConfigurationError
from internal_base.settings import LibrarySettings, load_yaml


def bomb(levels: int) -> str:
    """A billion-laughs document: each level holds nine aliases of the one before."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


class Opts(LibrarySettings):
    """A library section holding free-form options."""

    yaml_section: ClassVar[str] = "opts"
    options: dict[str, Any] = Field(default_factory=dict)


def test_alias_bomb_fails_naming_file_and_line(tmp_path: Path) -> None:
    """Aliases expanding to millions of nodes are refused, with the file and the line."""
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(9))
    with pytest.raises(ConfigurationError) as caught:
        load_yaml(path)
    assert str(path) in str(caught.value)
    assert "line " in str(caught.value)
    assert "alias" in str(caught.value)


def test_alias_bomb_in_a_section_never_reaches_the_settings(tmp_path: Path) -> None:
    """A bomb under a free-form field fails at load (its repr would otherwise never return)."""
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(9) + "opts: {options: {x: *l8}}\n")
    with pytest.raises(ConfigurationError):
        Opts.load(yaml_file=path)


def test_alias_chain_deeper_than_the_nesting_limit_fails(tmp_path: Path) -> None:
    """A chain of aliases nesting deeper than the limit is refused like written nesting."""
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 300)]
    path = tmp_path / "chain.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigurationError, match="nesting deeper than"):
        load_yaml(path)


def test_ordinary_aliases_and_merge_keys_still_load(tmp_path: Path) -> None:
    """Anchors, aliases and ``<<`` merges of normal size load as before."""
    path = tmp_path / "ok.yaml"
    path.write_text("base: &base {a: 1, b: [1, 2]}\nx: {<<: *base, c: 3}\ny: [*base, *base]\n")
    data = load_yaml(path)
    assert data["x"] == {"a": 1, "b": [1, 2], "c": 3}
    assert data["y"] == [{"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]}]


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    """A self-referencing anchor (a cyclic value no settings field can hold) is refused with its line."""
    path = tmp_path / "cycle.yaml"
    path.write_text("ok: 1\na: &a [1, *a]\n")
    with pytest.raises(ConfigurationError, match="line 2"):
        load_yaml(path)


def test_repr_of_heavily_shared_settings_value_returns() -> None:
    """A settings value sharing one list nine times per level (9**9 leaves) has a bounded repr."""
    shared: list[Any] = ["password=hunter2"] * 9
    for _ in range(8):
        shared = [shared] * 9
    settings = Opts(options={"x": shared})
    text = repr(settings)
    assert text.startswith("Opts(options={'x': [[")
    assert "***" in text
    assert "hunter2" not in text
    assert len(text) < 1_000_000
