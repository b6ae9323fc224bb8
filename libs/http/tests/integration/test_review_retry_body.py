"""Integration: a retried answer's body is not read whole before the retry (a real uvicorn server).

A 503 (or 429) may carry a body of any size: a proxy's error page, or a broken server that keeps
streaming. Reading it whole to reuse the connection costs the caller's memory and time for an answer
that is thrown away, so only a small bounded part is drained before the retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from internal_base.resilience import testing
from internal_http import ATTEMPTS_EXTENSION, HttpResilienceSettings, HttpSettings, RetryConfig, create_client

CHUNK = b"x" * 65536
TOTAL = 64 * 1024 * 1024  # what the 503 body would be if the client read it all


class BigErrorApp:
    """The first request of each path gets a 503 with a 64 MiB body, streamed; later ones a 200."""

    def __init__(self) -> None:
        """Start with no hits."""
        self.hits: dict[str, int] = {}
        self.sent: dict[str, int] = {}  # bytes of the 503 body sent before the client went away

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve one request (lifespan acknowledged)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"]
        self.hits[path] = self.hits.get(path, 0) + 1
        if self.hits[path] > 1:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        await send({"type": "http.response.start", "status": 503, "headers": [(b"retry-after", b"0")]})
        sent = 0
        while sent < TOTAL and not gone.is_set():
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            sent += len(CHUNK)
        self.sent[path] = sent
        if not gone.is_set():
            await send({"type": "http.response.body", "body": b""})
        watcher.cancel()


@pytest.fixture(scope="module")
def big_app() -> BigErrorApp:
    """The app, shared by the tests of this module."""
    return BigErrorApp()


@pytest.fixture(scope="module")
def big_url(serve_asgi: Callable[..., str], big_app: BigErrorApp) -> str:
    """Base URL of the app served by uvicorn on 127.0.0.1."""
    return serve_asgi(big_app)


@pytest.fixture()
def no_wait() -> Iterator[testing]:
    """Skip every backoff wait."""
    with testing() as mode:
        yield mode


async def test_huge_error_body_is_not_read_before_retry(
    big_app: BigErrorApp, big_url: str, unique_name: str, no_wait: testing
) -> None:
    """A 503 with a 64 MiB body is retried after reading a bounded part of it, not the whole body."""
    resilience = HttpResilienceSettings(retry=RetryConfig(attempts=2))
    settings = HttpSettings(base_url=big_url, resilience=resilience)
    path = f"/{unique_name}"
    async with create_client(settings) as client:
        async with asyncio.timeout(60):
            response = await client.get(path)
        for _ in range(600):  # the server notices the closed connection within a few polls
            if path in big_app.sent:
                break
            await asyncio.sleep(0.05)
    assert (response.status_code, response.text) == (200, "ok")
    assert response.extensions[ATTEMPTS_EXTENSION] == 2
    assert big_app.sent[path] < TOTAL // 2
