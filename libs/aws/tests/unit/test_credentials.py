"""The credential chain: explicit keys → profile → default chain; secrets never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from internal_aws import AwsConfigurationError, AwsCredentials, AwsSettings, SqsClient
from internal_base.errors import ConfigurationError


@pytest.fixture()
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment with no AWS credentials anywhere (files, variables, instance metadata)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_explicit_keys_come_first() -> None:
    """Explicit keys win over a profile."""
    creds = AwsCredentials(access_key_id=SecretStr("AKIA1"), secret_access_key=SecretStr("s"), profile="dev")
    assert creds.source == "explicit"


def test_profile_then_default() -> None:
    """Without keys a profile is used, else the default chain."""
    assert AwsCredentials(profile="dev").source == "profile"
    assert AwsCredentials().source == "default"


def test_plain_strings_are_wrapped_in_secretstr() -> None:
    """Keys given as str (untyped callers) become SecretStr."""
    creds = AwsCredentials(access_key_id="AKIA1", secret_access_key="topsecret")  # type: ignore[arg-type]
    assert isinstance(creds.secret_access_key, SecretStr)
    assert creds.secret_access_key.get_secret_value() == "topsecret"


def test_repr_never_shows_keys() -> None:
    """repr shows the source and endpoint but neither key."""
    creds = AwsCredentials(
        access_key_id=SecretStr("AKIAEXAMPLEKEY"),
        secret_access_key=SecretStr("topsecret"),
        session_token=SecretStr("tok3n"),
        endpoint_url="http://user:pw@localhost:4566",
    )
    text = repr(creds)
    assert "explicit" in text
    assert "AKIAEXAMPLEKEY" not in text
    assert "topsecret" not in text
    assert "tok3n" not in text
    assert "pw@" not in text


def test_settings_repr_masks_secrets() -> None:
    """AwsSettings keeps keys as SecretStr: neither repr nor str shows them."""
    settings = AwsSettings(
        access_key_id=SecretStr("AKIAEXAMPLEKEY"), secret_access_key=SecretStr("topsecret")
    )
    assert "topsecret" not in repr(settings)
    assert "topsecret" not in str(settings)
    assert "AKIAEXAMPLEKEY" not in repr(settings)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_key_id": SecretStr("a")},
        {"secret_access_key": SecretStr("s")},
        {"session_token": SecretStr("t")},
    ],
)
def test_incomplete_keys_are_rejected(kwargs: dict[str, Any]) -> None:
    """A key without its partner (or a token without keys) is a configuration error."""
    with pytest.raises(AwsConfigurationError, match="must be given together|needs access_key_id"):
        AwsCredentials(**kwargs)


def test_settings_reject_incomplete_keys_without_echoing_them() -> None:
    """AwsSettings.load names the problem but not the value."""
    with pytest.raises(ConfigurationError, match="given together") as info:
        AwsSettings.load(access_key_id="AKIAVISIBLE")
    assert "AKIAVISIBLE" not in str(info.value)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMONS_AWS_* variables fill the settings and so the credentials."""
    monkeypatch.setenv("COMMONS_AWS_REGION", "eu-west-1")
    monkeypatch.setenv("COMMONS_AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setenv("COMMONS_AWS_PROFILE", "dev")
    creds = AwsCredentials.from_settings(AwsSettings())
    assert (creds.region, creds.endpoint_url, creds.source) == (
        "eu-west-1",
        "http://localhost:4566",
        "profile",
    )
    assert creds.client_kwargs() == {"endpoint_url": "http://localhost:4566", "region_name": "eu-west-1"}


def test_settings_yaml_section(tmp_path: Path) -> None:
    """The "aws" YAML section is read by AwsSettings.load."""
    config = tmp_path / "app.yaml"
    config.write_text(
        "aws:\n  region: ap-south-1\n  resilience:\n    retry: {attempts: 7}\n", encoding="utf-8"
    )
    settings = AwsSettings.load(yaml_file=config)
    assert (settings.region, settings.resilience.retry.attempts) == ("ap-south-1", 7)


def test_client_kwargs_empty_by_default() -> None:
    """Nothing is forced on the client when neither region nor endpoint is set."""
    assert AwsCredentials().client_kwargs() == {}


async def test_verify_explicit_keys() -> None:
    """Explicit keys resolve without touching the environment."""
    creds = AwsCredentials(
        access_key_id=SecretStr("AKIA1"), secret_access_key=SecretStr("s"), region="us-east-1"
    )
    assert await creds.verify() == "explicit"


async def test_verify_environment(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default chain finds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    session = AwsCredentials(region="us-east-1").session()
    assert await AwsCredentials().verify(session) == "env"
    resolved = await session.get_credentials()
    assert resolved.access_key == "AKIAENV"


async def test_verify_profile(isolated_env: Path) -> None:
    """A named profile is read from the shared credentials file."""
    (isolated_env / "credentials").write_text(
        "[dev]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profsecret\n", encoding="utf-8"
    )
    creds = AwsCredentials(profile="dev", region="us-east-1")
    assert await creds.verify() == "shared-credentials-file"
    resolved = await creds.session().get_credentials()
    assert resolved.access_key == "AKIAPROFILE"


async def test_unknown_profile_is_a_configuration_error(isolated_env: Path) -> None:
    """A profile missing from the shared files is reported clearly."""
    with pytest.raises(AwsConfigurationError, match="nosuchprofile"):
        await AwsCredentials(profile="nosuchprofile").verify()


async def test_no_credentials_anywhere(isolated_env: Path) -> None:
    """With nothing in the chain, verify explains where it looked."""
    with pytest.raises(AwsConfigurationError, match="no AWS credentials found"):
        await AwsCredentials(region="us-east-1").verify()


async def test_open_with_an_unknown_profile_is_a_configuration_error(isolated_env: Path) -> None:
    """A profile botocore cannot find fails open() with AwsConfigurationError, not a botocore error."""
    client = SqsClient(queue_name="q", settings=AwsSettings(profile="no-such", region="us-east-1"))
    with pytest.raises(AwsConfigurationError, match="no-such"):
        await client.open()
    assert not client.is_open
