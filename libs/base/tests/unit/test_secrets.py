"""Tests that secrets stay out of reprs, errors and logs (one policy everywhere)."""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from types import MappingProxyType
from typing import ClassVar, NamedTuple

import pytest
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_base.logging import configure_logging, get_logger, shutdown_logging
from internal_base.redaction import MASK, redact, redact_text
from internal_base.settings import LibrarySettings


class DbSettings(LibrarySettings):
    """Settings with one SecretStr and one str DSN."""

    model_config = SettingsConfigDict(env_prefix="T_SECRETS_")
    yaml_section: ClassVar[str] = "db"

    dsn: str = "postgresql://app:topsecret@db/app"
    password: SecretStr = SecretStr("hunter2")
    api_token: str = "tok-123"
    port: int = 5432


def test_repr_hides_secretstr() -> None:
    """A SecretStr field is masked in the repr."""
    assert "hunter2" not in repr(DbSettings())


def test_repr_hides_dsn_password() -> None:
    """A DSN password in a plain str field is masked in the repr."""
    assert "postgresql://app:***@db/app" in repr(DbSettings())


def test_repr_hides_secret_named_str_field() -> None:
    """A plain str field with a secret name is masked in the repr."""
    assert "tok-123" not in repr(DbSettings())


def test_secret_value_still_available() -> None:
    """The secret value itself is still available to the code that needs it."""
    assert DbSettings().password.get_secret_value() == "hunter2"


def test_validation_error_hides_input() -> None:
    """A validation error of the constructor does not echo the input value."""
    with pytest.raises(ValueError, match="port") as info:
        DbSettings(port="hunter2-port")
    assert "hunter2-port" not in str(info.value)


def test_load_error_hides_input() -> None:
    """``load`` errors are ConfigurationErrors that never echo the value."""
    with pytest.raises(ConfigurationError) as info:
        DbSettings.load(port="s3cr3t-value")
    assert "s3cr3t-value" not in str(info.value)


def test_log_record_hides_secrets() -> None:
    """Secrets passed as args and extras never reach the log output."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        get_logger("t.secrets").warning(
            "connecting to %s", "redis://:pw123@h/0", extra={"headers": {"Authorization": "Bearer abc"}}
        )
    finally:
        shutdown_logging()
    record = json.loads(stream.getvalue())
    assert (record["message"], record["headers"]) == (
        "connecting to redis://:***@h/0",
        {"Authorization": "***"},
    )


async def test_health_error_hides_secrets() -> None:
    """A failing check's reason is redacted."""
    registry = HealthRegistry()

    async def failing() -> None:
        raise ConnectionError("cannot reach postgresql://app:pw@db/app")

    registry.register("db", failing)
    report = await registry.readiness()
    assert report.check("db").error == "ConnectionError: cannot reach postgresql://app:***@db/app"


def test_redact_text_clean_string_is_returned_as_is() -> None:
    """Text without any trigger word skips the substitutions and comes back as the same object."""
    text = "order o-1 done in 12 ms"
    assert redact_text(text) is text


def test_redact_text_short_string_is_returned_as_is() -> None:
    """Text shorter than the shortest possible secret ("pwd=x") is returned as the same object."""
    text = "pwd="
    assert redact_text(text) is text
    assert redact_text("pwd=x") == "pwd=***"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connect redis://:pw123@h/0", "connect redis://:***@h/0"),
        ("header BEARER abc.def", "header BEARER ***"),
        ("PassWord=hunter2", "PassWord=***"),
        ("id AKIAABCDEFGHIJKLMNOP", f"id {MASK}"),
    ],
)
def test_redact_text_fast_path_still_masks_secrets(text: str, expected: str) -> None:
    """Secrets in any case still pass the trigger search and get masked."""
    assert redact_text(text) == expected


def test_redact_exact_containers_are_copied_and_redacted() -> None:
    """The dict/list/tuple fast path copies, keeps types and redacts nested values."""
    items = ["a", 1, None, "token=abc", {"password": "p"}, ("k", SecretStr("s"))]
    result = redact(items)
    assert result == ["a", 1, None, "token=***", {"password": MASK}, ("k", MASK)]
    assert result is not items
    assert items[3] == "token=abc"
    values = ("dsn redis://:pw@h/0", 2.5)
    assert redact(values) == ("dsn redis://:***@h/0", 2.5)


class _Str(str):
    """A str subclass."""


class _List(list[object]):
    """A list subclass."""


class _Pair(NamedTuple):
    """A tuple subclass."""

    name: str
    secret: str


def test_redact_container_subclasses_take_the_general_path() -> None:
    """Subclasses of str, Mapping, list and tuple are still redacted."""
    assert redact(_Str("token=abc")) == "token=***"
    assert redact(MappingProxyType({"api_key": "k", "n": "secret=x"})) == {"api_key": MASK, "n": "secret=***"}
    assert redact(OrderedDict(password="p")) == {"password": MASK}
    assert redact(_List(["token=abc"])) == ["token=***"]
    assert redact(_Pair("n", "password=x")) == ("n", "password=***")


def test_redact_mapping_with_str_subclass_key() -> None:
    """A secret key given as a str subclass is still recognised."""
    assert redact({_Str("password"): "p", 1: "x"}) == {"password": MASK, 1: "x"}
