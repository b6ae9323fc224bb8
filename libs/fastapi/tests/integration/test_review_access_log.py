"""Adversarial review over uvicorn: a response that breaks after it started is not logged as a success."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install


def _build() -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/broken-stream")
    async def broken_stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first part"
            raise RuntimeError("upstream went away mid-stream")

        return StreamingResponse(chunks())

    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str]) -> str:
    """One real uvicorn server for the module."""
    return serve_asgi(_build())


async def test_response_broken_after_start_is_logged_as_aborted(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream that raises after its 200 was sent gives an ERROR access record marked aborted."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/broken-stream")
    deadline = time.monotonic() + 30
    records: list[logging.LogRecord] = []
    while not records and time.monotonic() < deadline:
        records = [r for r in caplog.records if r.name == "internal_fastapi.access"]
        await asyncio.sleep(0.01)
    record = records[0]
    assert (record.levelno, record.__dict__.get("http_aborted")) == (logging.ERROR, True)
    assert record.getMessage().endswith("aborted")


@pytest.mark.parametrize("key", ["api%5Fkey", "pass%77ord", "%70assword", "api+key", "Api%2DKey"])
async def test_percent_encoded_secret_names_are_masked(
    base_url: str, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    """A query key that decodes to a secret name (api%5Fkey = api_key) has its value masked in the log."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await client.get(f"/missing?{key}=hunter2&page=3")
    deadline = time.monotonic() + 30
    records: list[logging.LogRecord] = []
    while not records and time.monotonic() < deadline:
        records = [r for r in caplog.records if r.name == "internal_fastapi.access"]
        await asyncio.sleep(0.01)
    assert records[0].__dict__["http_path"] == f"/missing?{key}=***&page=3"


@pytest.mark.parametrize(
    ("sent", "logged"),
    [
        ("/missing/a%3Fpage=2", "/missing/a%3Fpage=2"),  # a decoded "?" is not a query
        ("/missing/%25E2%2580%25A8", "/missing/%25E2%2580%25A8"),  # literal "%E2..." is not an escape
        ("/missing/x%20200%201.0ms", "/missing/x%20200%201.0ms"),  # a space cannot fake the status field
    ],
)
async def test_path_characters_that_mimic_log_syntax_are_escaped(
    base_url: str, caplog: pytest.LogCaptureFixture, sent: str, logged: str
) -> None:
    """A decoded "?", "%" or space in the path is logged escaped: no fake query, escape or field."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await client.get(sent)
    deadline = time.monotonic() + 30
    records: list[logging.LogRecord] = []
    while not records and time.monotonic() < deadline:
        records = [r for r in caplog.records if r.name == "internal_fastapi.access"]
        await asyncio.sleep(0.01)
    assert records[0].__dict__["http_path"] == logged
