"""Tests that every invalid input to ``load()`` is a ``ConfigurationError`` naming its source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from internal_base.errors import ConfigurationError
from internal_base.settings import LibrarySettings, load_yaml

SECRET = "s3cr3t-value-9"


class Pool(BaseModel):
    """A nested model."""

    size: int = 1
    hosts: list[str] = Field(default_factory=list)


class Loose(BaseModel):
    """A nested model that accepts any key on purpose."""

    model_config = ConfigDict(extra="allow")


class ErrSettings(LibrarySettings):
    """Settings with list, dict, model and secret fields."""

    model_config = SettingsConfigDict(env_prefix="T_ERR_")
    yaml_section: ClassVar[str] = "err"

    hosts: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    pool: Pool = Pool()
    pools: list[Pool] = Field(default_factory=list)
    named: dict[str, Pool] = Field(default_factory=dict)
    optional_pool: Pool | None = None
    loose: Loose = Loose()
    password: SecretStr | None = None
    port: int = 5432
    day: dt.date | None = None
    aliased: str = Field(default="", alias="otherName")


class ChildSettings(LibrarySettings):
    """Settings whose section sits inside ``err``."""

    model_config = SettingsConfigDict(env_prefix="T_ERR_CHILD_")
    yaml_section: ClassVar[str] = "err.child"

    level: int = 0


def write(tmp_path: Path, text: str, name: str = "settings.yaml") -> Path:
    """Write a file and return its path."""
    path = tmp_path / name
    path.write_text(text)
    return path


# -- non-JSON env and .env values --------------------------------------------------------------
@pytest.mark.parametrize(("variable", "value"), [("T_ERR_HOSTS", "a,b"), ("T_ERR_LABELS", f"{{x:{SECRET}")])
def test_non_json_env_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A non-JSON env value for a list/dict field is a ConfigurationError naming the variable."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=f"environment variable {variable}") as info:
        ErrSettings.load()
    assert SECRET not in str(info.value)


def test_non_json_nested_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-JSON value of a nested env variable names that variable."""
    monkeypatch.setenv("T_ERR_POOL__HOSTS", f"[{SECRET}")
    with pytest.raises(ConfigurationError, match="environment variable T_ERR_POOL__HOSTS") as info:
        ErrSettings.load()
    assert SECRET not in str(info.value)


def test_non_json_env_value_keeps_no_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    """The translated error chains nothing that could carry the value (a JSONDecodeError holds it)."""
    monkeypatch.setenv("T_ERR_HOSTS", SECRET)
    with pytest.raises(ConfigurationError) as info:
        ErrSettings.load()
    assert (info.value.__cause__, info.value.__suppress_context__) == (None, True)


def test_non_json_dotenv_value_names_file_line_and_variable(tmp_path: Path) -> None:
    """A non-JSON .env value is a ConfigurationError naming the file, the line and the variable."""
    env = write(tmp_path, f"# comment\nT_ERR_PORT=1\nexport T_ERR_HOSTS={SECRET}\n", ".env")
    with pytest.raises(ConfigurationError, match=r"\.env, line 3: variable T_ERR_HOSTS") as info:
        ErrSettings.load(env_file=env)
    assert SECRET not in str(info.value)


# -- unconstructible YAML ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "tag"),
    [
        ("day: 2024-02-30", "timestamp"),
        ("port: !!int eighty", "int"),
        ("port: !!bool maybe", "bool"),
        ("port: !!float lots", "float"),
        ("port: !!binary 'abc'", "base64"),
        ("port: !!timestamp never", "timestamp"),
    ],
)
def test_unconstructible_yaml_names_file_and_line(tmp_path: Path, line: str, tag: str) -> None:
    """A YAML value its tag cannot construct is a ConfigurationError naming file, line and tag."""
    path = write(tmp_path, f"err:\n  hosts: []\n  {line}\n")
    with pytest.raises(ConfigurationError, match=rf"settings\.yaml, line 3, column \d+: .*{tag}"):
        load_yaml(path)


def test_unconstructible_yaml_never_echoes_the_value(tmp_path: Path) -> None:
    """The error for an unconstructible value does not show the value."""
    path = write(tmp_path, f"err:\n  port: !!int {SECRET}\n")
    with pytest.raises(ConfigurationError) as info:
        ErrSettings.load(yaml_file=path)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ("{a: ", "}")])
def test_deep_nesting_names_file_and_line(tmp_path: Path, opening: str, closing: str) -> None:
    """Absurdly deep nesting is a ConfigurationError naming the file and line, not a RecursionError."""
    path = write(tmp_path, "err:\n  hosts: " + opening * 5000 + closing * 5000 + "\n")
    with pytest.raises(ConfigurationError, match=r"settings\.yaml, line 2, column \d+: .*nest"):
        ErrSettings.load(yaml_file=path)


def test_deep_block_nesting_names_file(tmp_path: Path) -> None:
    """Deep block-style nesting is a ConfigurationError too."""
    text = "err:\n" + "".join(" " * (n + 1) + f"k{n}:\n" for n in range(300)) + " " * 301 + "v: 1\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=r"settings\.yaml, line \d+, column \d+: .*nest"):
        load_yaml(path)


def test_reasonable_nesting_is_accepted(tmp_path: Path) -> None:
    """Nesting of a few dozen levels is still read."""
    path = write(tmp_path, "a: " + "[" * 40 + "]" * 40 + "\n")
    assert isinstance(load_yaml(path)["a"], list)


# -- unknown keys ------------------------------------------------------------------------------
def test_unknown_key_names_key_and_suggestion(tmp_path: Path) -> None:
    """A typo in a section is an error naming the key, the file and the nearest valid key."""
    path = write(tmp_path, "err:\n  port: 1\n  pasword: x\n")
    with pytest.raises(
        ConfigurationError,
        match=r"unknown key 'err\.pasword' .*settings\.yaml, line 3.*did you mean 'password'",
    ):
        ErrSettings.load(yaml_file=path)


def test_unknown_key_without_close_match(tmp_path: Path) -> None:
    """An unknown key with no close match lists no suggestion but is still an error."""
    path = write(tmp_path, "err:\n  zzzzqqq: 1\n")
    with pytest.raises(ConfigurationError, match=r"unknown key 'err\.zzzzqqq'") as info:
        ErrSettings.load(yaml_file=path)
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        ("err:\n  pool:\n    sise: 2\n", "err.pool.sise", "size"),
        ("err:\n  pools:\n    - size: 1\n    - hostz: []\n", "err.pools.1.hostz", "hosts"),
        ("err:\n  named:\n    main:\n      sizes: 1\n", "err.named.main.sizes", "size"),
        ("err:\n  optional_pool:\n    hots: []\n", "err.optional_pool.hots", "hosts"),
    ],
)
def test_unknown_nested_key_is_an_error(tmp_path: Path, text: str, key: str, suggestion: str) -> None:
    """Typos inside nested models (direct, in lists, in dict values, optional) are errors too."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=rf"unknown key '{key}'.*did you mean '{suggestion}'"):
        ErrSettings.load(yaml_file=path)


def test_every_unknown_key_is_reported_at_once(tmp_path: Path) -> None:
    """All unknown keys of a file are listed in one error."""
    path = write(tmp_path, "err:\n  prot: 1\n  hostss: []\n")
    with pytest.raises(ConfigurationError, match=r"(?s)'err\.prot'.*'err\.hostss'"):
        ErrSettings.load(yaml_file=path)


def test_known_keys_aliases_and_open_models_are_accepted(tmp_path: Path) -> None:
    """Field names, aliases, free-form dicts and models with extra='allow' accept their keys."""
    path = write(
        tmp_path,
        "err:\n  otherName: a\n  labels: {anything: x}\n  loose: {whatever: 1}\n  named: {p: {size: 3}}\n",
    )
    settings = ErrSettings.load(yaml_file=path)
    assert (settings.aliased, settings.labels, settings.named["p"].size) == ("a", {"anything": "x"}, 3)


def test_subsection_of_another_settings_class_is_not_unknown(tmp_path: Path) -> None:
    """A key that is the section of another settings class (``err.child``) is not a typo."""
    path = write(tmp_path, "err:\n  port: 7\n  child:\n    level: 2\n")
    assert (ErrSettings.load(yaml_file=path).port, ChildSettings.load(yaml_file=path).level) == (7, 2)


def test_unknown_key_in_open_settings_class_is_accepted(tmp_path: Path) -> None:
    """A settings class with ``extra='allow'`` keeps accepting unknown keys."""

    class Open(LibrarySettings):
        """Settings that take extra keys."""

        model_config = SettingsConfigDict(env_prefix="T_ERR_OPEN_", extra="allow")
        yaml_section: ClassVar[str] = "open"

    assert Open.load(yaml_file=write(tmp_path, "open:\n  anything: 1\n")).model_extra == {"anything": 1}


# -- env_file --------------------------------------------------------------------------------------
def test_missing_env_file_is_an_error(tmp_path: Path) -> None:
    """An explicitly named env_file that does not exist is an error naming it."""
    with pytest.raises(ConfigurationError, match=r"env file .*missing\.env"):
        ErrSettings.load(env_file=tmp_path / "missing.env")


def test_env_file_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    """An env_file that is a directory is an error, not silently skipped."""
    with pytest.raises(ConfigurationError, match="env file"):
        ErrSettings.load(env_file=tmp_path)


def test_non_utf8_env_file_is_an_error(tmp_path: Path) -> None:
    """An env_file that is not UTF-8 is an error naming it."""
    path = tmp_path / "latin.env"
    path.write_bytes(b"T_ERR_PORT=\xff\xfe\n")
    with pytest.raises(ConfigurationError, match=r"latin\.env.*not valid UTF-8"):
        ErrSettings.load(env_file=path)


# -- validation errors name their source ---------------------------------------------------------
def test_validation_error_names_the_env_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value from the environment names the variable it came from."""
    monkeypatch.setenv("T_ERR_PORT", SECRET)
    with pytest.raises(ConfigurationError, match=r"err\.port: .*environment variable T_ERR_PORT") as info:
        ErrSettings.load()
    assert SECRET not in str(info.value)


def test_validation_error_names_the_yaml_line(tmp_path: Path) -> None:
    """A bad value from YAML names the file and line it came from."""
    path = write(tmp_path, "err:\n  hosts: []\n  pool:\n    size: many\n")
    with pytest.raises(ConfigurationError, match=r"err\.pool\.size: .*settings\.yaml, line 4"):
        ErrSettings.load(yaml_file=path)


def test_validation_error_names_the_dotenv_line(tmp_path: Path) -> None:
    """A bad value from a .env file names the file and line it came from."""
    env = write(tmp_path, "T_ERR_HOSTS=[]\nT_ERR_PORT=many\n", ".env")
    with pytest.raises(ConfigurationError, match=r"err\.port: .*\.env, line 2"):
        ErrSettings.load(env_file=env)


def test_validation_error_names_the_argument() -> None:
    """A bad init argument is named as such."""
    with pytest.raises(ConfigurationError, match=r"err\.port: .*load\(\) argument"):
        ErrSettings.load(port="many")


def test_implicitly_typed_value_suggests_quoting(tmp_path: Path) -> None:
    """A plain scalar that only looks like a date suggests quoting it."""
    with pytest.raises(ConfigurationError, match="quote it"):
        load_yaml(write(tmp_path, "err:\n  day: 2024-02-30\n"))


def test_explicitly_tagged_value_does_not_suggest_quoting(tmp_path: Path) -> None:
    """An explicit ``!!int`` tag is not fixed by quoting, so no such hint is given."""
    with pytest.raises(ConfigurationError) as info:
        load_yaml(write(tmp_path, "err:\n  port: !!int eighty\n"))
    assert "quote" not in str(info.value)


def test_unknown_load_argument_is_an_error() -> None:
    """A typo in a ``load()`` argument is an error naming it and the nearest valid name."""
    with pytest.raises(ConfigurationError, match=r"unknown argument 'prot'.*did you mean 'port'"):
        ErrSettings.load(prot=1)


def test_unknown_nested_load_argument_is_an_error() -> None:
    """A typo inside a nested ``load()`` argument is an error too."""
    with pytest.raises(ConfigurationError, match=r"unknown argument 'pool\.sise'.*did you mean 'size'"):
        ErrSettings.load(pool={"sise": 2})


def test_pydantic_settings_init_options_pass_through_load(tmp_path: Path) -> None:
    """pydantic-settings' own init options (``_env_prefix`` ...) are not unknown arguments."""
    env = write(tmp_path, "OTHER_PORT=6\n", ".env")
    assert ErrSettings.load(_env_prefix="OTHER_", _env_file=env).port == 6


# -- duplicate keys and malformed ${...} ------------------------------------------------------------
def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    """A key written twice in one mapping is an error naming it and both lines."""
    path = write(tmp_path, "err:\n  port: 1\n  hosts: []\n  port: 2\n")
    with pytest.raises(
        ConfigurationError,
        match=r"settings\.yaml, line 4, column 3: duplicate key 'port' \(first on line 2\)",
    ):
        load_yaml(path)


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    """Keys brought in by a ``<<`` merge may be overridden without a duplicate error."""
    path = write(tmp_path, "base: &base {port: 1, hosts: [a]}\nerr:\n  <<: *base\n  port: 2\n")
    assert load_yaml(path)["err"] == {"port": 2, "hosts": ["a"]}


@pytest.mark.parametrize("text", ["${UNCLOSED", "${1BAD}", "${has-dash}", "x ${A:-${B}}", "${}"])
def test_malformed_variable_reference_is_an_error(tmp_path: Path, text: str) -> None:
    """A ``${`` that is not a valid reference is an error naming the line, not kept silently."""
    path = write(tmp_path, f"err:\n  aliased: x\n  hosts: ['{text}']\n")
    with pytest.raises(ConfigurationError, match=r"settings\.yaml, line 3: invalid variable reference"):
        load_yaml(path)


def test_escaped_dollar_brace_stays_literal(tmp_path: Path) -> None:
    """``$${`` keeps a literal ``${`` in a value."""
    path = write(tmp_path, "err:\n  hosts: ['$${NOT_A_VAR}']\n")
    assert load_yaml(path)["err"]["hosts"] == ["${NOT_A_VAR}"]


# -- misspelt section names, several env files, sources of values -------------------------------
def test_misspelt_section_name_warns_with_the_nearest(tmp_path: Path) -> None:
    """A missing section with a near-miss key at the same level warns, naming both."""
    path = write(tmp_path, "eror:\n  port: 1\n")
    with pytest.warns(UserWarning, match=r"no section 'err' .*settings\.yaml.*did you mean 'eror'"):
        assert ErrSettings.load(yaml_file=path).port == 5432


def test_unrelated_sections_do_not_warn(tmp_path: Path) -> None:
    """A file without the section and without near misses loads defaults quietly."""
    path = write(tmp_path, "service:\n  name: x\n")
    assert ErrSettings.load(yaml_file=path).port == 5432


def test_several_env_files_are_each_checked(tmp_path: Path) -> None:
    """``env_file`` may be a list of files; each must exist."""
    present = write(tmp_path, "T_ERR_PORT=9\n", "a.env")
    with pytest.raises(ConfigurationError, match=r"env file .*b\.env"):
        ErrSettings.load(env_file=[present, tmp_path / "b.env"])


def test_several_env_files_are_read_in_order(tmp_path: Path) -> None:
    """With several env files, a later one wins."""
    first = write(tmp_path, "T_ERR_PORT=9\n", "a.env")
    second = write(tmp_path, "T_ERR_PORT=10\n", "b.env")
    assert ErrSettings.load(env_file=[first, second]).port == 10


def test_validation_error_of_a_default_says_so() -> None:
    """An invalid default value is reported as coming from the default."""

    class BadDefault(LibrarySettings):
        """Settings whose default does not validate."""

        model_config = SettingsConfigDict(env_prefix="T_ERR_BAD_DEFAULT_")
        port: int = "x"  # type: ignore[assignment]

    with pytest.raises(ConfigurationError, match=r"port: .*\(from default value\)"):
        BadDefault.load()


def test_absurdly_nested_env_json_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An env value nested past the JSON parser's recursion limit is a ConfigurationError too."""
    monkeypatch.setenv("T_ERR_HOSTS", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigurationError, match="environment variable T_ERR_HOSTS"):
        ErrSettings.load()


def test_secret_in_a_dict_key_is_masked_in_the_error_path() -> None:
    """A dict key that holds a DSN is masked when the error names its path."""

    class Weights(LibrarySettings):
        """Settings with a dict keyed by URL."""

        model_config = SettingsConfigDict(env_prefix="T_ERR_WEIGHTS_")
        weights: dict[str, int] = Field(default_factory=dict)

    with pytest.raises(ConfigurationError) as info:
        Weights.load(weights={"redis://:key-secret@h/0": "heavy"})
    assert ("key-secret" in str(info.value), "weights.redis://:***@h/0" in str(info.value)) == (False, True)


class TreeNode(BaseModel):
    """A recursive model."""

    child: TreeNode | None = None


class TreeSettings(LibrarySettings):
    """Settings holding a recursive model."""

    model_config = SettingsConfigDict(env_prefix="T_ERR_TREE_")
    yaml_section: ClassVar[str] = "tree"

    root: TreeNode = TreeNode()


def test_self_referencing_yaml_is_a_configuration_error(tmp_path: Path) -> None:
    """A YAML alias that contains itself, read into a recursive model, is a ConfigurationError."""
    path = write(tmp_path, "tree:\n  root: &a {child: *a}\n")
    with pytest.raises(ConfigurationError, match=r"line 2, column \d+: recursive alias"):
        TreeSettings.load(yaml_file=path)


# -- unknown nested keys from the environment and .env --------------------------------------------
def test_unknown_nested_env_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo after a known field's delimiter (``T_ERR_POOL__SISE``) names the variable."""
    monkeypatch.setenv("T_ERR_POOL__SISE", "2")
    with pytest.raises(
        ConfigurationError, match=r"unknown key 'pool\.sise' in environment variable T_ERR_POOL__SISE.*'size'"
    ):
        ErrSettings.load()


def test_unknown_key_in_env_json_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo inside a JSON env value names the variable."""
    monkeypatch.setenv("T_ERR_POOLS", '[{"size": 1}, {"sise": 2}]')
    with pytest.raises(
        ConfigurationError, match=r"unknown key 'pools\.1\.sise' in environment variable T_ERR_POOLS"
    ):
        ErrSettings.load()


def test_unknown_nested_dotenv_variable_is_an_error(tmp_path: Path) -> None:
    """A typo in a nested .env variable names the file and line."""
    env = write(tmp_path, "T_ERR_PORT=1\nT_ERR_POOL__SISE=2\n", ".env")
    with pytest.raises(
        ConfigurationError, match=r"unknown key 'pool\.sise' in .*\.env, line 2: variable T_ERR_POOL__SISE"
    ):
        ErrSettings.load(env_file=env)


def test_unrelated_variables_are_not_unknown_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables that are not nested under a known field are left alone (the namespace is shared)."""
    monkeypatch.setenv("T_ERR_SOMETHING_ELSE", "1")
    env = write(tmp_path, "OTHER_APP=1\nT_ERR_UNRELATED=2\nT_ERR_POOL__SIZE=3\n", ".env")
    assert ErrSettings.load(env_file=env).pool.size == 3
