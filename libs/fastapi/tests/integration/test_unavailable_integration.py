"""Real unreachable dependencies, called from routes served by uvicorn, are 503 problems.

No extension's ``register_*`` is called here: the family mapping of :func:`install` alone turns
each library's unavailable error into a 503 (by base class, not by name).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from internal_aws import AwsSettings, SqsClient
from internal_base.health import HealthRegistry
from internal_base.resilience import testing
from internal_cache import CacheClient, CacheSettings
from internal_fastapi import FastAPISettings, install
from internal_http import HttpSettings, create_client
from internal_rdbms import Database, RdbmsSettings

DETAIL = "A dependency is temporarily unavailable; retry later."


@pytest.fixture()
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (kernel backlog) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture()
def app() -> FastAPI:
    """An app with only ``install`` (no extension registered its errors)."""
    application = FastAPI()
    install(application, FastAPISettings(log_requests=False), health_registry=HealthRegistry())
    return application


async def _get(serve_asgi: Callable[..., str], app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=serve_asgi(app), timeout=60) as http:
        return await http.get(path)


def _assert_unavailable(response: httpx.Response, *secrets: str) -> None:
    body = response.json()
    assert (response.status_code, body["code"], body["detail"]) == (503, "dependency_unavailable", DETAIL)
    assert response.headers["content-type"] == "application/problem+json"
    for secret in ("127.0.0.1", *secrets):
        assert secret not in response.text


async def test_httpx_connect_error_is_503(
    serve_asgi: Callable[..., str], app: FastAPI, closed_port: int
) -> None:
    """A plain httpx call to a closed port (httpx.ConnectError) is a 503."""

    @app.get("/call")
    async def call() -> dict[str, int]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{closed_port}/orders")
        return {"status": response.status_code}

    response = await _get(serve_asgi, app, "/call")
    _assert_unavailable(response, str(closed_port))
    assert "retry-after" not in response.headers


async def test_httpx_timeout_is_503(serve_asgi: Callable[..., str], app: FastAPI, silent_port: int) -> None:
    """An httpx read timeout against a server that never answers is a 503."""

    @app.get("/call")
    async def call() -> dict[str, int]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.5)) as client:
            response = await client.get(f"http://127.0.0.1:{silent_port}/slow")
        return {"status": response.status_code}

    _assert_unavailable(await _get(serve_asgi, app, "/call"), str(silent_port))


async def test_open_http_breaker_is_503_with_retry_after(
    serve_asgi: Callable[..., str], app: FastAPI, closed_port: int
) -> None:
    """internal_http's breaker, opened by a refused call, fails the next call fast: 503 + Retry-After."""
    settings = HttpSettings(
        base_url=f"http://127.0.0.1:{closed_port}",
        resilience={"retry": {"attempts": 1}, "breaker": {"failure_threshold": 1, "reset_timeout": 30}},
    )
    client = create_client(settings)

    @app.get("/call")
    async def call() -> dict[str, int]:
        response = await client.get("/orders")
        return {"status": response.status_code}

    try:
        first = await _get(serve_asgi, app, "/call")
        second = await _get(serve_asgi, app, "/call")
    finally:
        await client.aclose()
    _assert_unavailable(first)
    _assert_unavailable(second)
    assert 1 <= int(second.headers["retry-after"]) <= 30


async def test_aws_unreachable_endpoint_is_503(
    serve_asgi: Callable[..., str], app: FastAPI, closed_port: int
) -> None:
    """An SQS send to an endpoint on a closed port (internal_aws's unavailable error) is a 503."""
    endpoint = f"http://127.0.0.1:{closed_port}"
    settings = AwsSettings(
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="hunter2-secret",
        connect_timeout=5,
        resilience={"retry": {"attempts": 1}},
    )

    @app.get("/send")
    async def send() -> dict[str, str]:
        async with SqsClient(settings=settings, queue_url=f"{endpoint}/123456789012/jobs") as sqs:
            await sqs.send("hello")
        return {"sent": "yes"}

    with testing():
        response = await _get(serve_asgi, app, "/send")
    _assert_unavailable(response, "hunter2", "jobs")


async def test_cache_unreachable_server_is_503(
    serve_asgi: Callable[..., str], app: FastAPI, closed_port: int
) -> None:
    """A cache read from a Redis URL on a closed port (internal_cache's unavailable error) is a 503."""

    @app.get("/read")
    async def read() -> dict[str, object]:
        url = f"redis://:hunter2@127.0.0.1:{closed_port}/0"
        async with CacheClient(CacheSettings(url=url), health_registry=HealthRegistry()) as cache:
            return {"value": await cache.get("k")}

    with testing():
        response = await _get(serve_asgi, app, "/read")
    _assert_unavailable(response, "hunter2")


async def test_database_unreachable_server_is_503(
    serve_asgi: Callable[..., str], app: FastAPI, closed_port: int
) -> None:
    """A query on a PostgreSQL URL at a closed port (internal_rdbms's unavailable error) is a 503."""
    settings = RdbmsSettings(
        url=f"postgresql://svc:hunter2@127.0.0.1:{closed_port}/orders", connect_timeout=5
    )

    @app.get("/count")
    async def count() -> dict[str, object]:
        async with Database(settings, health_registry=HealthRegistry()) as database:
            await database.ping()
        return {"ok": True}

    with testing():
        response = await _get(serve_asgi, app, "/count")
    _assert_unavailable(response, "hunter2", "orders")
