"""One YAML file configures every client of every library (the family's settings contract).

Only ``COMMONS_CONFIG_FILE`` is set: every other ``COMMONS_*`` variable is removed. Each client is
built with no settings and used against a real server, so a value that did not arrive (a client
reading the environment only) shows up as a request that went to the wrong place.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import text

from internal_aws import DynamoTable, S3Client, SqsClient
from internal_base.health import HealthRegistry
from internal_cache import CacheClient
from internal_fastapi import install
from internal_http import create_client
from internal_rdbms import Database

REGION = "eu-west-3"


async def _hello(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Awaitable[None]]
) -> None:
    """A raw ASGI app that answers every request with its own path."""
    if scope["type"] == "lifespan":
        return
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": str(scope["path"]).encode()})


@pytest.fixture()
def service_yaml(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    aws_endpoint_url: str,
    aws_credentials: dict[str, str],
    serve_asgi: Callable[..., str],
) -> dict[str, str]:
    """A service's YAML file with a section per library; COMMONS_CONFIG_FILE is the only variable."""
    for name in list(os.environ):
        if name.startswith("COMMONS_"):
            monkeypatch.delenv(name)
    values = {
        "redis_url": redis_url,
        "key_prefix": f"cfg-{uuid.uuid4().hex[:8]}:",
        "database": str(tmp_path / "service.db"),
        "endpoint": aws_endpoint_url,
        "base_url": serve_asgi(_hello),
        "health_prefix": "/cfg-health",
    }
    path = tmp_path / "service.yaml"
    path.write_text(
        f"""
cache:
  url: {values["redis_url"]}
  key_prefix: "{values["key_prefix"]}"
  health_check: false
rdbms:
  url: sqlite+aiosqlite:///{values["database"]}
  health_check: false
aws:
  region: {REGION}
  endpoint_url: {values["endpoint"]}
  access_key_id: {aws_credentials["aws_access_key_id"]}
  secret_access_key: {aws_credentials["aws_secret_access_key"]}
  s3_addressing_style: path
  health_check: false
http:
  base_url: {values["base_url"]}
  health_check: false
fastapi:
  health_prefix: {values["health_prefix"]}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(path))
    return values


async def test_cache_client_reads_url_and_prefix_from_the_file(service_yaml: dict[str, str]) -> None:
    """CacheClient() writes to the file's Redis under the file's key prefix."""
    raw = aioredis.from_url(service_yaml["redis_url"])
    try:
        async with CacheClient() as cache:
            await cache.set("greeting", "hello")
        assert await raw.exists(f"{service_yaml['key_prefix']}greeting") == 1
    finally:
        await raw.delete(f"{service_yaml['key_prefix']}greeting")
        await raw.aclose()


async def test_database_reads_its_url_from_the_file(service_yaml: dict[str, str]) -> None:
    """Database() opens the file's SQLite database."""
    async with Database() as db, db.session() as session:
        await session.execute(text("CREATE TABLE marker (id INTEGER PRIMARY KEY)"))
        await session.commit()
    assert Path(service_yaml["database"]).stat().st_size > 0


async def test_aws_clients_use_the_files_endpoint_and_region(service_yaml: dict[str, str]) -> None:
    """S3Client(), DynamoTable() and SqsClient() create their resources at the file's endpoint and region."""
    name = f"cfg-{uuid.uuid4().hex[:8]}"
    async with S3Client(bucket=name) as s3:
        await s3.create_bucket()
        try:
            location = await s3.client.get_bucket_location(Bucket=name)
        finally:
            await s3.delete_bucket(empty=True)
    async with DynamoTable(name) as table:
        await table.create(("pk", "S"))
        try:
            described = await table.client.describe_table(TableName=name)
        finally:
            await table.drop()
    async with SqsClient(queue_name=name) as sqs:
        await sqs.create_queue()
        try:
            attributes = await sqs.attributes("QueueArn")
        finally:
            await sqs.delete_queue()
    regions = (
        location["LocationConstraint"],
        described["Table"]["TableArn"].split(":")[3],
        attributes["QueueArn"].split(":")[3],
    )
    assert regions == (REGION, REGION, REGION)


async def test_http_client_reads_its_base_url_from_the_file(service_yaml: dict[str, str]) -> None:
    """create_client() resolves a relative path against the file's base_url."""
    async with create_client() as client:
        response = await client.get("/from-the-file")
    assert (response.status_code, response.text) == (200, "/from-the-file")


async def test_fastapi_install_reads_its_section_from_the_file(service_yaml: dict[str, str]) -> None:
    """install(app) mounts the health routes under the file's prefix."""
    app = FastAPI()
    install(app, health_registry=HealthRegistry())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        moved = await client.get(f"{service_yaml['health_prefix']}/live")
        default = await client.get("/health/live")
    assert (moved.status_code, default.status_code) == (200, 404)
