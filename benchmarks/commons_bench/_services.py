"""The local services benchmarks run against: Redis (probed, never waited on) and a loopback ASGI server."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio

# Several libraries own uvicorn in the commons resolve: BUILD names one.
import uvicorn  # pants: no-infer-dep

__all__ = [
    "REDIS_URL_ENV",
    "ServiceUnavailable",
    "delete_prefixed_keys",
    "display_url",
    "new_key_prefix",
    "probe_redis",
    "redis_url_from_env",
    "serve_asgi",
]

REDIS_URL_ENV = "COMMONS_REDIS_URL"
_DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_PROBE_TIMEOUT = 2.0

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServiceUnavailable(RuntimeError):
    """A service a suite needs does not answer; the message says which variable points to it."""


def redis_url_from_env() -> str:
    """``COMMONS_REDIS_URL``, or the local default ``redis://127.0.0.1:6379/0``."""
    return os.environ.get(REDIS_URL_ENV) or _DEFAULT_REDIS_URL


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and the report)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def new_key_prefix() -> str:
    """A prefix no other process uses, so benchmarks never touch other data."""
    return f"commons-bench:{os.getpid()}:{secrets.token_hex(4)}:"


async def probe_redis(url: str, timeout: float = _PROBE_TIMEOUT) -> None:
    """Fail fast, with the variable to set, when Redis at ``url`` does not answer PING.

    Raises:
        ServiceUnavailable: When the server refuses, times out or answers with an error.
    """
    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        await asyncio.wait_for(client.ping(), timeout + 1)
    except (OSError, TimeoutError, redis.RedisError) as exc:
        raise ServiceUnavailable(
            f"Redis does not answer at {display_url(url)} ({type(exc).__name__}: {exc}); "
            f"start redis-server or set {REDIS_URL_ENV}"
        ) from exc
    finally:
        await client.aclose()


async def delete_prefixed_keys(url: str, prefix: str) -> int:
    """Delete every key under ``prefix`` (which must be a benchmark prefix); returns how many."""
    if not prefix.startswith("commons-bench:"):
        raise ValueError(f"refusing to delete keys outside the benchmark namespace: {prefix!r}")
    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=_PROBE_TIMEOUT)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1_000):
            batch.append(key)
            if len(batch) >= 1_000:
                deleted += await client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += await client.unlink(*batch)
    finally:
        await client.aclose()
    return deleted


@asynccontextmanager
async def serve_asgi(app: ASGIApp, *, startup_timeout: float = 10.0) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn in a background thread on 127.0.0.1 (a free port); yield its base URL.

    Raises:
        ServiceUnavailable: When the server does not start within ``startup_timeout`` seconds.
    """
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says so; with proto 0, Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=1024)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="bench-uvicorn", daemon=True
    )
    thread.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + startup_timeout
        while not server.started:
            if not thread.is_alive() or loop.time() > deadline:
                raise ServiceUnavailable(f"the benchmark HTTP server did not start on 127.0.0.1:{port}")
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10.0)
        sock.close()
