"""Middleware over real HTTP (uvicorn): correlation round trip, concurrency, nothing leaked."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace

from internal_base.context import get_correlation_id, get_request_id
from internal_base.health import HealthRegistry
from internal_base.logging import ContextFilter, JsonFormatter, TextFormatter
from internal_fastapi import FastAPISettings, install

SECRET_DSN = "postgresql://svc:hunter2@db.internal:5432/payments"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def _build() -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/ids")
    async def ids() -> dict[str, str | None]:
        before = get_correlation_id()
        await asyncio.sleep(random.uniform(0, 0.02))  # - jitter, not crypto
        return {
            "before": before,
            "after": get_correlation_id(),
            "request_id": get_request_id(),
            "trace_id": format(trace.get_current_span().get_span_context().trace_id, "032x"),
        }

    @app.get("/crash")
    async def crash() -> None:
        raise ConnectionError(f"could not connect to {SECRET_DSN} (password=hunter2)")

    return app


async def _access_records(caplog: pytest.LogCaptureFixture, count: int = 1) -> list[logging.LogRecord]:
    """Access records; the server thread logs right after the response is sent, so wait for it.

    Bounded by a deadline of seconds, not a number of short sleeps: a busy machine may delay
    the server thread well past a few milliseconds.
    """
    deadline = time.monotonic() + 30
    while True:
        records = [r for r in caplog.records if r.name == "internal_fastapi.access"]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str]) -> str:
    """The app served by uvicorn on a free port."""
    return serve_asgi(_build())


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        yield http


async def test_correlation_round_trip(client: httpx.AsyncClient) -> None:
    """The sent correlation ID and trace context reach the route and the response headers."""
    headers = {"X-Correlation-ID": "rt-1", "traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}
    response = await client.get("/ids", headers=headers)
    body = response.json()
    assert (body["before"], body["after"], body["trace_id"]) == ("rt-1", "rt-1", TRACE_ID)
    assert response.headers["x-correlation-id"] == "rt-1"
    assert response.headers["x-request-id"] == body["request_id"]


async def test_concurrent_requests_do_not_mix_ids(client: httpx.AsyncClient) -> None:
    """Fifty interleaved requests each see and get back only their own correlation ID."""
    sent = [f"conc-{index}" for index in range(50)]
    responses = await asyncio.gather(*(client.get("/ids", headers={"X-Correlation-ID": cid}) for cid in sent))
    seen = [(r.json()["before"], r.json()["after"], r.headers["x-correlation-id"]) for r in responses]
    assert seen == [(cid, cid, cid) for cid in sent]
    assert len({r.headers["x-request-id"] for r in responses}) == 50


async def test_error_bodies_leak_nothing(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    """A crash is a 500 problem with the correlation ID and no secret, host or exception text."""
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(ContextFilter())  # stamps the IDs, as every internal_base handler does
    response = await client.get("/crash?api_key=k-123", headers={"X-Correlation-ID": "crash-1"})
    body = response.json()
    assert response.status_code == 500
    assert (body["correlation_id"], response.headers["x-correlation-id"]) == ("crash-1", "crash-1")
    for leak in ("hunter2", "db.internal", "payments", "ConnectionError", "k-123", "Traceback"):
        assert leak not in response.text
    access = await _access_records(caplog)
    assert [(r.__dict__["http_status"], r.__dict__["correlation_id"]) for r in access] == [(500, "crash-1")]
    assert "k-123" not in access[0].getMessage()


async def test_invalid_incoming_id_is_replaced_over_http(client: httpx.AsyncClient) -> None:
    """An over-long correlation ID is not trusted; a fresh one is used end to end."""
    response = await client.get("/ids", headers={"X-Correlation-ID": "z" * 200})
    assert response.headers["x-correlation-id"] == response.json()["after"]
    assert len(response.headers["x-correlation-id"]) == 32


async def test_unicode_line_breaks_cannot_split_the_access_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """NEL, U+2028 and U+2029 (percent-encoded in path and query) and a hostile ID header stay one line."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    caplog.handler.addFilter(ContextFilter())  # stamps the IDs, as every internal_base handler does
    hostile_id = "x\u2028INFO forged".encode()
    response = await client.get(
        "/ids%C2%85INFO%E2%80%A8forged%E2%80%A9",
        params={"q": "a\u2028b\x85c"},
        headers={b"X-Correlation-ID": hostile_id},
    )
    [record] = await _access_records(caplog)
    rendered = [record.getMessage(), TextFormatter().format(record), JsonFormatter().format(record)]
    assert response.status_code == 404
    assert record.__dict__["http_path"] == "/ids%C2%85INFO%E2%80%A8forged%E2%80%A9?q=a%E2%80%A8b%C2%85c"
    assert record.__dict__["correlation_id"] == response.headers["x-correlation-id"] != hostile_id.decode()
    assert [len(text.splitlines()) for text in rendered] == [1, 1, 1]
    assert [any(ch in text for ch in "\x85\u2028\u2029") for text in rendered] == [False] * 3
