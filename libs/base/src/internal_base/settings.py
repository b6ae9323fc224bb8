"""Public settings API: ``LibrarySettings`` with YAML (``${VAR}``), env and ``.env`` sources."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from internal_base._settings import (
    CONFIG_FILE_ENV,
    LibrarySettings,
    YamlSectionSource,
    load_yaml,
    substitute,
)

__all__ = [
    "CONFIG_FILE_ENV",
    "LibrarySettings",
    "SecretStr",
    "SettingsConfigDict",
    "YamlSectionSource",
    "load_yaml",
    "substitute",
]
