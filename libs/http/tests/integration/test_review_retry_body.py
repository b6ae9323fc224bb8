"""Integration: a retried answer's body is not read whole before the retry (a real loopback server).

A 503 (or 429) may carry a body of any size: a proxy's error page, or a broken server that keeps
streaming. Reading it whole to reuse the connection costs the caller's memory and time for an answer
that is thrown away, so only a small bounded part is drained before the retry.

The server is a plain asyncio stream server: it writes the body chunk by chunk and waits for each to
drain, so what it counts is what the client took off the socket (plus the kernel's buffers), whatever
event loop or HTTP implementation the environment has.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from internal_base.resilience import testing
from internal_http import ATTEMPTS_EXTENSION, HttpResilienceSettings, HttpSettings, RetryConfig, create_client

CHUNK = b"x" * 65536
TOTAL = 64 * 1024 * 1024  # what the 503 body would be if the client read it all


class BigErrorServer:
    """The first request of each path gets a 503 with a 64 MiB body; later ones a 200 ``ok``."""

    def __init__(self) -> None:
        """Start with no hits."""
        self.hits: dict[str, int] = {}
        self.sent: dict[str, int] = {}  # bytes of the 503 body drained before the client went away

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one connection until the client closes it."""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode().split("?")[0]
                self.hits[path] = self.hits.get(path, 0) + 1
                if self.hits[path] > 1:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    await writer.drain()
                    continue
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\n")
                writer.write(f"content-length: {TOTAL}\r\n\r\n".encode())
                sent = 0
                try:
                    while sent < TOTAL:
                        writer.write(CHUNK)
                        await writer.drain()
                        sent += len(CHUNK)
                finally:
                    self.sent[path] = sent
        writer.close()


@pytest.fixture()
async def big_server() -> AsyncIterator[tuple[BigErrorServer, str]]:
    """The server on a free loopback port, and its base URL."""
    app = BigErrorServer()
    server = await asyncio.start_server(app.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield app, f"http://127.0.0.1:{port}"


@pytest.fixture()
def no_wait() -> Iterator[testing]:
    """Skip every backoff wait."""
    with testing() as mode:
        yield mode


async def test_huge_error_body_is_not_read_before_retry(
    big_server: tuple[BigErrorServer, str], unique_name: str, no_wait: testing
) -> None:
    """A 503 with a 64 MiB body is retried after reading a bounded part of it, not the whole body."""
    resilience = HttpResilienceSettings(retry=RetryConfig(attempts=2))
    big_app, big_url = big_server
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
