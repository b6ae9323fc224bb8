"""internal_aws.config: health_check decides where a client registers when no health_registry is given."""

from __future__ import annotations

import pytest

from internal_aws import AwsSettings, SqsClient
from internal_aws.config import AwsSettings as PublicAwsSettings
from internal_base.health import HealthRegistry, default_registry


def test_the_config_module_exports_the_settings_class() -> None:
    """internal_aws.config.AwsSettings is the settings class the package root exports."""
    assert PublicAwsSettings is AwsSettings


def test_health_check_on_registers_in_the_default_registry() -> None:
    """With health_check on (the default) and no health_registry, the process-wide registry is used."""
    assert (
        SqsClient(queue_name="q", settings=AwsSettings(region="eu-west-1")).health_registry
        is default_registry()
    )


def test_health_check_off_in_the_environment_registers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMONS_AWS_HEALTH_CHECK=false: a client built without settings registers no check anywhere."""
    monkeypatch.setenv("COMMONS_AWS_HEALTH_CHECK", "false")
    monkeypatch.setenv("COMMONS_AWS_REGION", "eu-west-1")
    assert SqsClient(queue_name="q").health_registry is None


def test_a_given_registry_wins_over_health_check_off() -> None:
    """health_registry= is where the check goes, whatever health_check says."""
    registry = HealthRegistry()
    client = SqsClient(queue_name="q", settings=AwsSettings(health_check=False), health_registry=registry)
    assert client.health_registry is registry
