"""Settings: pydantic-settings plus a YAML source with ``${VAR}`` / ``${VAR:-default}`` substitution.

Precedence, highest first: init arguments → environment → YAML → ``.env`` → field defaults.
Each library declares one ``LibrarySettings`` subclass with an ``env_prefix`` and a
``yaml_section`` (a top-level key of the shared YAML file, dotted for nesting).

Why not ``pydantic-settings-extra-sources``: it ranks YAML *above* the environment, reports
neither file line nor YAML section, re-parses substituted values as JSON (an env value can turn
into a list) and pulls in ``toml`` and ``deepmerge``. The sources here are small and do what
the issue asks: every invalid input to ``load()`` is a ``ConfigurationError`` naming where it
came from (file and line, the variable, the argument) and never echoing a value.
"""

from __future__ import annotations

import contextvars
import inspect
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Final, Self

from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from internal_base._errors import ConfigurationError
from internal_base._masking import MAX_ITEMS, masked
from internal_base._redaction import redact_text
from internal_base._sources import EnvSource, Origins, YamlSectionSource, record_sources
from internal_base._unknown_keys import unknown_keys
from internal_base._yaml import load_yaml, substitute

__all__ = ["CONFIG_FILE_ENV", "LibrarySettings", "YamlSectionSource", "load_yaml", "substitute"]

CONFIG_FILE_ENV: Final = "COMMONS_CONFIG_FILE"
# pydantic-settings' own init options (``_env_prefix``, ``_secrets_dir`` ...) pass through load().
_INIT_OPTIONS: Final = frozenset(
    name for name in inspect.signature(BaseSettings.__init__).parameters if name[:1] == "_"
)
_LOADING: contextvars.ContextVar[Origins | None] = contextvars.ContextVar(
    "commons_settings_load", default=None
)


def _describe(exc: ValidationError, cls: type[BaseSettings], origins: Origins) -> str:
    section = cls.yaml_section if issubclass(cls, LibrarySettings) else ""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        path = redact_text(
            ".".join([*filter(None, section.split(".")), *(str(part) for part in error["loc"])])
        )
        # A custom validator's message may quote the value: it goes through the redaction policy.
        message = redact_text(error["msg"])
        lines.append(
            f"  {path or '(root)'}: {message} [type={error['type']}] (from {origins.describe(error['loc'])})"
        )
    where = f" (section {section!r})" if section else ""
    count = len(lines)
    return f"invalid {cls.__name__}{where}: {count} error{'s' if count != 1 else ''}\n" + "\n".join(lines)


def _paths(files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None) -> list[Path] | None:
    if files is None:
        return None
    if isinstance(files, str | os.PathLike):
        return [Path(files)]
    return [Path(file) for file in files]


def _check_env_file(path: Path, encoding: str) -> None:
    """An explicitly named env file must exist and be readable text (pydantic-settings skips it)."""
    try:
        path.read_text(encoding=encoding)
    except IsADirectoryError:
        raise ConfigurationError(f"cannot read env file {path}: is a directory") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read env file {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, LookupError):
        raise ConfigurationError(f"cannot read env file {path}: not valid {encoding}") from None


def _check_arguments(cls: type[BaseSettings], overrides: dict[str, Any]) -> None:
    """A ``load()`` argument no field accepts is a typo, not something to ignore."""
    problems = [
        f"unknown argument {'.'.join(map(str, path))!r} to {cls.__name__}.load()"
        + (f" (did you mean {suggestion!r}?)" if suggestion else "")
        for path, suggestion in unknown_keys(cls, overrides, allowed=_INIT_OPTIONS)
    ]
    if problems:
        raise ConfigurationError("\n".join(problems))


class LibrarySettings(BaseSettings):
    """Base class for each library's settings.

    Example:
        ``class CacheSettings(LibrarySettings):``
        ``    model_config = SettingsConfigDict(env_prefix="COMMONS_CACHE_")``
        ``    yaml_section: ClassVar[str] = "cache"``
    """

    model_config = SettingsConfigDict(
        extra="ignore",
        env_nested_delimiter="__",
        hide_input_in_errors=True,
        validate_default=True,
    )
    yaml_section: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """init → env → YAML → .env → secrets dir → defaults."""
        origins = _LOADING.get()
        yaml_source = YamlSectionSource(settings_cls, origins.yaml_file if origins is not None else None)
        if isinstance(env_settings, EnvSettingsSource):
            env_settings = EnvSource(env_settings)
        if isinstance(dotenv_settings, EnvSettingsSource):
            dotenv_settings = EnvSource(dotenv_settings)
        sources = (init_settings, env_settings, yaml_source, dotenv_settings, file_secret_settings)
        if origins is not None and origins.cls is settings_cls and origins.yaml is None:
            record_sources(origins, sources)
        return sources

    @classmethod
    def load(
        cls,
        yaml_file: str | os.PathLike[str] | None = None,
        env_file: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        **overrides: Any,
    ) -> Self:
        """Build the settings from all sources; errors become ``ConfigurationError``.

        Args:
            yaml_file: Shared YAML file (default: ``$COMMONS_CONFIG_FILE`` when set, else none).
            env_file: A ``.env`` file, or several (later ones win); each must exist (default:
                the class's ``model_config['env_file']``, which may be absent).
            **overrides: Init values; they win over every other source.

        Raises:
            ConfigurationError: Every invalid input, naming its source and never its value:
                unreadable or invalid YAML (file, line), a missing variable, a YAML key no field
                accepts (with the nearest valid one), a missing or unreadable ``env_file``, an env
                or ``.env`` value that is not JSON for a list/dict/model field (the variable), and
                a field that fails validation (its path and where the value came from).
        """
        chosen = yaml_file if yaml_file is not None else os.environ.get(CONFIG_FILE_ENV) or None
        origins = Origins(cls, None if chosen is None else Path(chosen), dict(overrides))
        encoding = cls.model_config.get("env_file_encoding") or "UTF-8"
        env_files = _paths(env_file)
        for path in env_files or ():
            _check_env_file(path, encoding)
        _check_arguments(cls, overrides)
        token = _LOADING.set(origins)
        try:
            if env_files is not None:
                return cls(_env_file=tuple(env_files), **overrides)
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc, cls, origins)) from None
        except UnicodeDecodeError:
            files = cls.model_config.get("env_file")
            raise ConfigurationError(f"cannot read env file {files}: not valid {encoding}") from None
        finally:
            _LOADING.reset(token)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Repr arguments with every secret masked, at any depth (see ``internal_base._masking``)."""
        budget = [MAX_ITEMS]  # one budget for the whole repr
        for name, value in super().__repr_args__():
            yield name, masked(value, name, budget=budget)
