"""Clients given no settings read ``AwsSettings.load()``: the YAML file named by COMMONS_CONFIG_FILE."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from internal_aws import AwsCredentials, DynamoTable, S3Client, SqsClient, SqsConsumer
from internal_base.health import HealthRegistry

REGION = "eu-west-3"


@pytest.fixture()
def config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, aws_endpoint_url: str, aws_credentials: dict[str, str]
) -> str:
    """Only COMMONS_CONFIG_FILE is set: a YAML file with the region, the moto endpoint and fake keys."""
    for name in list(os.environ):
        if name.startswith("COMMONS_AWS_"):
            monkeypatch.delenv(name)
    path = tmp_path / "service.yaml"
    path.write_text(
        "aws:\n"
        f"  region: {REGION}\n"
        f"  endpoint_url: {aws_endpoint_url}\n"
        f"  access_key_id: {aws_credentials['aws_access_key_id']}\n"
        f"  secret_access_key: {aws_credentials['aws_secret_access_key']}\n"
        "  s3_addressing_style: path\n"
        "  health_check: false\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(path))
    return aws_endpoint_url


async def test_s3_creates_its_bucket_in_the_files_region(config_file: str, unique_name: str) -> None:
    """An S3Client without settings talks to the file's endpoint and creates buckets in its region."""
    async with S3Client(bucket=unique_name) as s3:
        await s3.create_bucket()
        try:
            location = await s3.client.get_bucket_location(Bucket=unique_name)
            assert (location["LocationConstraint"], s3.settings.endpoint_url) == (REGION, config_file)
        finally:
            await s3.delete_bucket(empty=True)


async def test_dynamodb_creates_its_table_in_the_files_region(config_file: str, unique_name: str) -> None:
    """A DynamoTable without settings creates its table in the file's region."""
    async with DynamoTable(unique_name) as table:
        await table.create(("pk", "S"))
        try:
            described = await table.client.describe_table(TableName=unique_name)
            assert described["Table"]["TableArn"].split(":")[3] == REGION
        finally:
            await table.drop()


async def test_sqs_client_and_consumer_use_the_files_region(config_file: str, unique_name: str) -> None:
    """An SqsClient without settings (and the consumer on it) creates its queue in the file's region."""
    async with SqsClient(queue_name=unique_name) as sqs:
        await sqs.create_queue()
        try:
            attributes = await sqs.attributes("QueueArn")
            assert attributes["QueueArn"].split(":")[3] == REGION
            consumer = SqsConsumer(sqs, _ignore, health_registry=HealthRegistry())
            assert consumer.client.settings.region == REGION
        finally:
            await sqs.delete_queue()


def test_credentials_default_to_the_files_values(config_file: str) -> None:
    """AwsCredentials.from_settings() without settings reads the file: region, endpoint, explicit keys."""
    credentials = AwsCredentials.from_settings()
    assert (credentials.region, credentials.endpoint_url, credentials.source) == (
        REGION,
        config_file,
        "explicit",
    )


async def _ignore(message: object) -> None:
    """A handler that does nothing."""
