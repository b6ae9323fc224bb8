"""Fixtures for the integration tests: settings for the real endpoint and per-test resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from internal_aws import AwsCredentials, AwsSettings, DynamoTable, S3Client, SqsClient
from internal_aws._config import MIB


@pytest.fixture()
def settings(aws_endpoint_url: str, aws_credentials: dict[str, str]) -> AwsSettings:
    """Settings for the test endpoint (moto or LocalStack), small multipart parts, no global health."""
    return AwsSettings(
        endpoint_url=aws_endpoint_url,
        region=aws_credentials["region_name"],
        access_key_id=SecretStr(aws_credentials["aws_access_key_id"]),
        secret_access_key=SecretStr(aws_credentials["aws_secret_access_key"]),
        s3_addressing_style="path",
        s3_multipart_threshold=5 * MIB,
        s3_part_size=5 * MIB,
        health_check=False,
    )


@pytest.fixture(scope="session")
def aws_session(aws_credentials: dict[str, str]) -> Any:
    """One aioboto3 session shared by the fixtures (service models are loaded once, not per client)."""
    return AwsCredentials(
        access_key_id=SecretStr(aws_credentials["aws_access_key_id"]),
        secret_access_key=SecretStr(aws_credentials["aws_secret_access_key"]),
        region=aws_credentials["region_name"],
    ).session()


@pytest.fixture()
async def s3(settings: AwsSettings, aws_session: Any, unique_name: str) -> AsyncIterator[S3Client]:
    """An open S3 client whose default bucket exists for this test only."""
    async with S3Client(bucket=unique_name, settings=settings, session=aws_session) as client:
        await client.create_bucket()
        yield client
        await client.delete_bucket(empty=True)


@pytest.fixture()
async def table(settings: AwsSettings, aws_session: Any, unique_name: str) -> AsyncIterator[DynamoTable]:
    """An open table with keys pk (S) and sk (N), dropped after the test."""
    async with DynamoTable(unique_name, settings=settings, session=aws_session) as client:
        await client.create(("pk", "S"), ("sk", "N"))
        yield client
        await client.drop()


@pytest.fixture()
async def queue(settings: AwsSettings, aws_session: Any, unique_name: str) -> AsyncIterator[SqsClient]:
    """An open SQS client on a queue created for this test (visibility timeout 1 s)."""
    async with SqsClient(queue_name=unique_name, settings=settings, session=aws_session) as client:
        await client.create_queue(attributes={"VisibilityTimeout": "1"})
        yield client
        await client.delete_queue()
