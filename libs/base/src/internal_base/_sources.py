"""Settings sources of ``LibrarySettings``, and where each value came from.

* ``YamlSectionSource`` reads the class's section of the shared YAML file and refuses keys no
  field accepts (naming the nearest valid key).
* ``EnvSource`` wraps pydantic-settings' environment and ``.env`` sources: a value that is not
  valid JSON for a list/dict/model field becomes a ``ConfigurationError`` naming the variable
  (and the ``.env`` file and line), instead of a ``SettingsError`` naming neither.
* ``Origins`` remembers what each source returned, so that a validation error can say which
  argument, variable or file line a bad value came from. No message ever shows a value.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsError

from internal_base._errors import ConfigurationError
from internal_base._redaction import redact_text
from internal_base._unknown_keys import accepted_keys, unknown_field_keys, unknown_keys
from internal_base._yaml import key_line, load_yaml

_FIELD: Final = re.compile(r'field "([^"]+)"')
_DOTENV_LINE: Final = re.compile(r"\s*(?:export\s+)?([^=\s#]+)\s*=")
_MAX_KEY: Final = 80

Loc = tuple[str | int, ...]


def _sections(section: str) -> list[str]:
    return [part for part in section.split(".") if part]


def _subsection_keys(section: str) -> frozenset[str]:
    """Keys of ``section`` that are (the start of) another settings class's section."""
    from internal_base._settings import LibrarySettings

    own = _sections(section)
    found: set[str] = set()
    pending = list(LibrarySettings.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        other = _sections(str(getattr(cls, "yaml_section", "")))
        if len(other) > len(own) and other[: len(own)] == own:
            found.add(other[len(own)])
    return frozenset(found)


def _section(data: Mapping[str, Any], section: str, file: Path) -> dict[str, Any]:
    node: Any = data
    parts = _sections(section)
    for depth, part in enumerate(parts):
        parent = node
        node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            if isinstance(parent, Mapping):
                _warn_near_miss(parent, ".".join(parts[: depth + 1]), file)
            return {}
    if not isinstance(node, Mapping):
        raise ConfigurationError(f"section {section!r} of settings file {file} must be a mapping")
    return dict(node)


def _warn_near_miss(siblings: Mapping[Any, Any], section: str, file: Path) -> None:
    """Warn when a missing section looks misspelt (``cahce:`` for ``cache``)."""
    *outer, own = _sections(section)
    known = _subsection_keys(".".join(outer))
    candidates = [key for key in siblings if isinstance(key, str) and key not in known]
    close = difflib.get_close_matches(own, candidates, n=1, cutoff=0.75)
    if close:
        warnings.warn(
            f"no section {section!r} in settings file {file} (did you mean {close[0]!r}?); using defaults",
            UserWarning,
            stacklevel=2,
        )


def _show(path: Loc) -> str:
    text = redact_text(".".join(str(part) for part in path))
    return text if len(text) <= _MAX_KEY else text[: _MAX_KEY - 3] + "..."


class YamlSectionSource(PydanticBaseSettingsSource):
    """Settings source reading the class's ``yaml_section`` from the YAML file given to ``load``.

    Raises:
        ConfigurationError: From ``load_yaml``; a section that is not a mapping; keys that no
            field accepts (each named with its line and the nearest valid key).
    """

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.data: dict[str, Any] = {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: the whole section is returned by ``__call__``."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return the section's values (empty without a file)."""
        if self.path is None:
            return {}
        section = str(getattr(self.settings_cls, "yaml_section", ""))
        self.data = _section(load_yaml(self.path), section, self.path)
        prefix = tuple(_sections(section))
        problems = []
        for path, suggestion in unknown_keys(self.settings_cls, self.data, allowed=_subsection_keys(section)):
            full = (*prefix, *path)
            line = key_line(self.path, full)
            where = f"{self.path}, line {line}" if line else str(self.path)
            hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
            problems.append(f"unknown key {_show(full)!r} in settings file {where}{hint}")
        if problems:
            raise ConfigurationError("\n".join(problems))
        return self.data

    def line(self, loc: Loc) -> str:
        """``file, line N`` of the value at ``loc`` inside the section."""
        if self.path is None:
            return "the YAML file"
        section = str(getattr(self.settings_cls, "yaml_section", ""))
        number = key_line(self.path, (*_sections(section), *loc))
        return f"{self.path}, line {number}" if number else str(self.path)


class EnvSource(PydanticBaseSettingsSource):
    """An environment or ``.env`` source whose parse errors name the variable, never the value."""

    def __init__(self, source: EnvSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self.source = source
        self.data: dict[str, Any] = {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Delegate to the wrapped source."""
        value, key, is_complex = self.source.get_field_value(field, field_name)
        return value, key, is_complex

    def _set_current_state(self, state: dict[str, Any]) -> None:
        super()._set_current_state(state)
        self.source._set_current_state(state)

    def _set_settings_sources_data(self, states: dict[str, dict[str, Any]]) -> None:
        super()._set_settings_sources_data(states)
        self.source._set_settings_sources_data(states)

    def __call__(self) -> dict[str, Any]:
        """Return the wrapped source's values; a parse error becomes a ``ConfigurationError``."""
        try:
            self.data = self.source()
        except SettingsError as exc:
            match = _FIELD.search(str(exc))
            raise ConfigurationError(self._parse_error(match.group(1) if match else None)) from None
        except RecursionError:  # JSON nested past the parser's limit: not a ValueError
            raise ConfigurationError(self._too_deep()) from None
        problems = []
        for path, suggestion in unknown_field_keys(self.settings_cls, self.data):
            key = self.variable(path)
            where = self.where(key) if key else "the environment"
            hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
            problems.append(f"unknown key {_show(path)!r} in {where}{hint}")
        if problems:
            raise ConfigurationError("\n".join(problems))
        return self.data

    @property
    def dotenv_files(self) -> list[Path] | None:
        """The ``.env`` files read, latest first (None for the process environment)."""
        files = getattr(self.source, "env_file", None)
        if not hasattr(self.source, "env_file"):
            return None
        if files is None:
            return []
        listed = [files] if isinstance(files, str | os.PathLike) else list(files)
        return [Path(file) for file in reversed(listed)]

    def _variables(self, field_name: str) -> Iterator[str]:
        """Names (as stored in ``env_vars``) of the variables that feed ``field_name``."""
        field_info = self.settings_cls.model_fields.get(field_name)
        if field_info is None:
            return
        delimiter = self.source.env_nested_delimiter
        for _, env_name, _ in self.source._extract_field_info(field_info, field_name):
            key = env_name if self.source.case_sensitive else env_name.lower()
            if key in self.source.env_vars:
                yield key
            if delimiter:
                yield from (name for name in self.source.env_vars if name.startswith(key + delimiter))

    def _too_deep(self) -> str:
        cls = self.settings_cls.__name__
        names = [
            name
            for field in self.settings_cls.model_fields
            for name in self._variables(field)
            if _json_error(self.source.env_vars.get(name)) is RecursionError
        ]
        where = ", ".join(self.where(name) for name in names) or "a variable"
        return f"invalid {cls}: {where} is nested too deeply to be read as JSON"

    def _parse_error(self, field_name: str | None) -> str:
        cls = self.settings_cls.__name__
        names = list(self._variables(field_name)) if field_name else []
        broken = [name for name in names if _json_error(self.source.env_vars.get(name))] or names
        what = "is not valid JSON (list, dict and model fields take a JSON value)"
        if not broken:
            return f"invalid {cls}: the value for field {field_name!r} {what}"
        return "\n".join(f"invalid {cls}: {self.where(name)} {what}" for name in broken)

    def where(self, key: str) -> str:
        """``environment variable NAME`` or ``FILE, line N: variable NAME`` for a stored name."""
        files = self.dotenv_files
        if files is None:
            original = next((name for name in os.environ if name.lower() == key.lower()), key)
            return f"environment variable {original}"
        for file in files:
            found = _dotenv_line(file, key, case_sensitive=self.source.case_sensitive)
            if found is not None:
                return f"{file}, line {found[0]}: variable {found[1]}"
        return f"env file variable {key}"

    def variable(self, loc: Loc) -> str | None:
        """The stored name of the variable that provided the value at ``loc``, if any."""
        field_name = _field_name(self.settings_cls, loc[0])
        if field_name is None:
            return None
        field_info = self.settings_cls.model_fields[field_name]
        delimiter = self.source.env_nested_delimiter or ""
        for depth in range(len(loc), 0, -1):
            if depth > 1 and not delimiter:
                continue
            for _, env_name, _ in self.source._extract_field_info(field_info, field_name):
                name = env_name + "".join(f"{delimiter}{part}" for part in loc[1:depth])
                key = name if self.source.case_sensitive else name.lower()
                if key in self.source.env_vars:
                    return str(key)
        return None


def _json_error(value: object) -> type[Exception] | None:
    """The kind of error ``json.loads`` raises for ``value`` (None when it parses)."""
    try:
        json.loads(str(value))
    except (ValueError, RecursionError) as exc:
        return type(exc) if isinstance(exc, RecursionError) else ValueError
    return None


def _dotenv_line(file: Path, key: str, *, case_sensitive: bool) -> tuple[int, str] | None:
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    found = None
    for number, line in enumerate(lines, 1):
        match = _DOTENV_LINE.match(line)
        if match and (match.group(1) if case_sensitive else match.group(1).lower()) == key:
            found = (number, match.group(1))  # the last assignment wins, as in python-dotenv
    return found


def _field_name(cls: type[BaseSettings], key: str | int) -> str | None:
    return accepted_keys(cls).get(key) if isinstance(key, str) else None


def _depth(data: object, loc: Loc) -> int:
    """How many leading parts of ``loc`` exist in ``data`` (dicts by key, lists by index)."""
    depth = 0
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, Sequence) and not isinstance(data, str) and isinstance(part, int):
            if not 0 <= part < len(data):
                break
            data = data[part]
        else:
            break
        depth += 1
    return depth


@dataclass
class Origins:
    """What each source of one ``load()`` returned, in priority order."""

    cls: type[BaseSettings]
    yaml_file: Path | None
    overrides: dict[str, Any]
    env: EnvSource | None = None
    yaml: YamlSectionSource | None = None
    dotenv: EnvSource | None = None

    def describe(self, loc: Loc) -> str:
        """Say where the value at ``loc`` came from (``load() argument``, a variable, a file line)."""
        candidates: list[tuple[str, object]] = [("argument", self.overrides)]
        for kind, source in (("env", self.env), ("yaml", self.yaml), ("dotenv", self.dotenv)):
            if source is not None:
                candidates.append((kind, source.data))
        best, best_depth = None, 0
        for kind, data in candidates:
            depth = _depth(data, loc)
            if depth > best_depth:
                best, best_depth = kind, depth
        if best is None:
            return (
                "secrets directory or default value"
                if self.cls.model_config.get("secrets_dir")
                else "default value"
            )
        if best == "argument":
            return "load() argument"
        if best == "yaml" and self.yaml is not None:
            return self.yaml.line(loc)
        source = self.env if best == "env" else self.dotenv if best == "dotenv" else None
        if source is not None:
            key = source.variable(loc)
            return source.where(key) if key else ("environment" if best == "env" else "env file")
        return "default value"


def record_sources(origins: Origins | None, sources: Sequence[object]) -> None:
    """Record the wrapped sources in ``origins`` (no-op outside ``load``)."""
    if origins is None:
        return
    for source in sources:
        if isinstance(source, YamlSectionSource):
            origins.yaml = source
        elif isinstance(source, EnvSource):
            if source.dotenv_files is None:
                origins.env = source
            else:
                origins.dotenv = source
