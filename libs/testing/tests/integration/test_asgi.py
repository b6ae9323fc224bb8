from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from internal_testing import AsgiServer, ServiceUnavailable, serve_asgi_app

pytest.importorskip("uvicorn")

Scope = dict[str, Any]


async def hello_app(scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps({"path": scope["path"], "method": scope["method"]}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


async def broken_lifespan_app(scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        data: dict[str, Any] = json.loads(response.read())
        return data


def test_serve_asgi_fixture(serve_asgi: Callable[..., str]) -> None:
    base_url = serve_asgi(hello_app)
    assert base_url.startswith("http://127.0.0.1:")
    assert fetch(f"{base_url}/items?x=1") == {"path": "/items", "method": "GET"}
    other = serve_asgi(hello_app)
    assert other != base_url
    assert fetch(other + "/") == {"path": "/", "method": "GET"}


def test_the_server_stops_with_the_context() -> None:
    with serve_asgi_app(hello_app) as base_url:
        assert fetch(base_url + "/ping")["path"] == "/ping"
    with pytest.raises(OSError):
        urllib.request.urlopen(base_url + "/ping", timeout=2)


def test_asgi_server_object() -> None:
    server = AsgiServer(hello_app, lifespan="off")
    assert server.port == 0
    server.stop()  # not started: a no-op
    with server:
        assert server.start() is server
        assert server.port > 0
        assert fetch(server.url + "/a")["path"] == "/a"


def test_a_failing_lifespan_is_reported() -> None:
    server = AsgiServer(broken_lifespan_app, lifespan="on")
    with pytest.raises(ServiceUnavailable, match="did not start"):
        server.start()
    assert server.port > 0


def test_a_slow_start_times_out() -> None:
    async def slow_app(scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        import asyncio

        await receive()
        await asyncio.sleep(1)
        await send({"type": "lifespan.startup.complete"})

    server = AsgiServer(slow_app, lifespan="on", startup_timeout=0.1)
    with pytest.raises(ServiceUnavailable, match="did not become ready"):
        server.start()
