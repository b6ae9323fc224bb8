"""Tests for LibrarySettings, the YAML source and precedence."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel, SecretStr
from pydantic_settings import SettingsConfigDict

from internal_base.errors import ConfigurationError
from internal_base.settings import CONFIG_FILE_ENV, LibrarySettings, load_yaml, substitute


class Backoff(BaseModel):
    """A nested section (kept local so these tests do not follow another model's shape)."""

    attempts: int = 3
    timeout: float | None = None


class CacheSettings(LibrarySettings):
    """A library's settings as the contract describes them."""

    model_config = SettingsConfigDict(env_prefix="T_CACHE_")
    yaml_section: ClassVar[str] = "cache"

    url: str = "from-default"
    ttl: int = 60
    password: SecretStr | None = None
    resilience: Backoff = Backoff()


class NestedSettings(LibrarySettings):
    """Settings read from a dotted YAML section."""

    model_config = SettingsConfigDict(env_prefix="T_NESTED_")
    yaml_section: ClassVar[str] = "libs.rdbms"

    pool: int = 1


@pytest.fixture()
def yaml_file(tmp_path: Path) -> Path:
    """A YAML file with a cache section."""
    path = tmp_path / "app.yaml"
    path.write_text("cache:\n  url: from-yaml\n  ttl: 5\n")
    return path


@pytest.fixture()
def env_file(tmp_path: Path) -> Path:
    """A .env file setting the cache URL and TTL."""
    path = tmp_path / ".env"
    path.write_text("T_CACHE_URL=from-dotenv\nT_CACHE_TTL=7\n")
    return path


def write(tmp_path: Path, text: str) -> Path:
    """Write a YAML file and return its path."""
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


# -- precedence -------------------------------------------------------------------------------
def test_defaults_apply_without_sources() -> None:
    """Without any source the field defaults apply."""
    assert CacheSettings.load().url == "from-default"


def test_dotenv_beats_defaults(env_file: Path) -> None:
    """A .env file beats the defaults."""
    assert CacheSettings.load(env_file=env_file).url == "from-dotenv"


def test_yaml_beats_dotenv(yaml_file: Path, env_file: Path) -> None:
    """YAML beats the .env file."""
    assert CacheSettings.load(yaml_file=yaml_file, env_file=env_file).url == "from-yaml"


def test_env_beats_yaml(yaml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment variables beat YAML."""
    monkeypatch.setenv("T_CACHE_URL", "from-env")
    assert CacheSettings.load(yaml_file=yaml_file).url == "from-env"


def test_init_beats_env(yaml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Init arguments beat everything."""
    monkeypatch.setenv("T_CACHE_URL", "from-env")
    assert CacheSettings.load(yaml_file=yaml_file, url="from-init").url == "from-init"


def test_sources_merge_per_field(yaml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each field comes from its highest source: URL from env, TTL from YAML."""
    monkeypatch.setenv("T_CACHE_URL", "from-env")
    settings = CacheSettings.load(yaml_file=yaml_file)
    assert (settings.url, settings.ttl) == ("from-env", 5)


def test_plain_constructor_works() -> None:
    """``CacheSettings(url=...)`` works like plain pydantic-settings."""
    assert CacheSettings(url="direct").url == "direct"


def test_config_file_env_var(yaml_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a yaml_file argument, $COMMONS_CONFIG_FILE is used."""
    monkeypatch.setenv(CONFIG_FILE_ENV, str(yaml_file))
    assert CacheSettings.load().url == "from-yaml"


def test_nested_env_delimiter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested models are set from env with a double underscore."""
    monkeypatch.setenv("T_CACHE_RESILIENCE__ATTEMPTS", "6")
    assert CacheSettings.load().resilience.attempts == 6


def test_nested_yaml_merges_with_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested YAML keys and nested env keys merge field by field."""
    path = write(tmp_path, "cache:\n  resilience:\n    attempts: 4\n    timeout: 2\n")
    monkeypatch.setenv("T_CACHE_RESILIENCE__TIMEOUT", "9")
    resilience = CacheSettings.load(yaml_file=path).resilience
    assert (resilience.attempts, resilience.timeout) == (4, 9.0)


def test_dotted_section(tmp_path: Path) -> None:
    """A dotted yaml_section reads a nested mapping."""
    path = write(tmp_path, "libs:\n  rdbms:\n    pool: 9\n")
    assert NestedSettings.load(yaml_file=path).pool == 9


def test_missing_section_uses_defaults(tmp_path: Path) -> None:
    """A YAML file without the section leaves defaults in place."""
    path = write(tmp_path, "other: {}\n")
    assert NestedSettings.load(yaml_file=path).pool == 1


def test_empty_yaml_file(tmp_path: Path) -> None:
    """An empty YAML file is an empty mapping."""
    assert load_yaml(write(tmp_path, "")) == {}


# -- substitution -----------------------------------------------------------------------------
def test_substitution_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``${VAR}`` takes the environment value."""
    monkeypatch.setenv("T_HOST", "redis.internal")
    path = write(tmp_path, "cache:\n  url: redis://${T_HOST}:6379\n")
    assert CacheSettings.load(yaml_file=path).url == "redis://redis.internal:6379"


def test_substitution_default(tmp_path: Path) -> None:
    """``${VAR:-default}`` falls back to the default, which may be typed."""
    path = write(tmp_path, "cache:\n  ttl: ${T_UNSET_TTL:-42}\n")
    assert CacheSettings.load(yaml_file=path).ttl == 42


def test_substitution_default_for_empty_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty variable also takes the ``:-`` default."""
    monkeypatch.setenv("T_EMPTY", "")
    assert substitute("${T_EMPTY:-fallback}") == "fallback"


def test_substitution_dollar_escape() -> None:
    """``$$`` is a literal dollar sign."""
    assert substitute("cost $$5") == "cost $5"


def test_substitution_missing_names_variable_and_line(tmp_path: Path) -> None:
    """A missing variable without default names the variable, the file and the line."""
    path = write(tmp_path, "cache:\n  url: ${T_DEFINITELY_UNSET}\n")
    with pytest.raises(
        ConfigurationError, match=r"settings\.yaml, line 2: environment variable \$\{T_DEFINITELY_UNSET\}"
    ):
        CacheSettings.load(yaml_file=path)


def test_substitution_value_is_not_reparsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A substituted value stays a string (no YAML/JSON injection)."""
    monkeypatch.setenv("T_INJECT", "[1, 2]")
    path = write(tmp_path, "cache:\n  url: ${T_INJECT}\n")
    assert CacheSettings.load(yaml_file=path).url == "[1, 2]"


# -- errors -----------------------------------------------------------------------------------
def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    """Invalid YAML names the file and the line."""
    path = write(tmp_path, "cache:\n  url: [unclosed\n  ttl: 1\n")
    with pytest.raises(ConfigurationError, match=r"invalid YAML in .*settings\.yaml, line \d+, column \d+"):
        CacheSettings.load(yaml_file=path)


def test_unreadable_file_names_file(tmp_path: Path) -> None:
    """A missing file names the file."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigurationError, match=r"cannot read settings file .*nope\.yaml"):
        CacheSettings.load(yaml_file=missing)


def test_non_utf8_file_is_unreadable(tmp_path: Path) -> None:
    """A file that is not UTF-8 is reported as unreadable."""
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"cache: \xff\xfe\n")
    with pytest.raises(ConfigurationError, match="not valid UTF-8"):
        load_yaml(path)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    """A YAML list at the top level is rejected."""
    with pytest.raises(ConfigurationError, match="mapping at the top level"):
        load_yaml(write(tmp_path, "- a\n- b\n"))


def test_section_must_be_mapping(tmp_path: Path) -> None:
    """A section that is not a mapping is rejected."""
    path = write(tmp_path, "cache: 3\n")
    with pytest.raises(ConfigurationError, match="section 'cache'"):
        CacheSettings.load(yaml_file=path)


def test_type_error_names_field_path(tmp_path: Path) -> None:
    """A type error names the full field path including the section."""
    path = write(tmp_path, "cache:\n  resilience:\n    attempts: many\n")
    with pytest.raises(
        ConfigurationError, match=r"cache\.resilience\.attempts: Input should be a valid integer"
    ):
        CacheSettings.load(yaml_file=path)


def test_configuration_error_is_value_error() -> None:
    """ConfigurationError is a ValueError, so generic handlers still catch it."""
    with pytest.raises(ValueError, match="ttl"):
        CacheSettings.load(ttl="x")


def test_secret_from_yaml_never_in_error(tmp_path: Path) -> None:
    """A secret value from YAML never appears in a validation error."""
    path = write(tmp_path, "cache:\n  password: s3cr3t-pw\n  ttl: also-s3cr3t\n")
    with pytest.raises(ConfigurationError) as info:
        CacheSettings.load(yaml_file=path)
    assert "s3cr3t" not in str(info.value)
