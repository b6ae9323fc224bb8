"""A small programmable raw-ASGI app for the integration tests.

Routes (``key`` names a per-test counter, so one session-wide server serves every test):

- ``/echo``: 200 with JSON ``{method, path, query, headers, body}``.
- ``/flaky?key=&fail=N&status=503&retry_after=``: the first N hits answer ``status``
  (with ``Retry-After`` when given), later hits answer 200 ``{"hits": n}``.
- ``/drop?key=&fail=N``: the first N hits close the connection without a response.
- ``/delay?key=&seconds=&fail=N``: waits (only for the first N hits when ``fail`` is given), then 200.
- ``/hits?key=``: 200 ``{"hits": n}`` for a key.
- ``/protected``: 200 when ``Authorization``/``X-API-Key``/``api_key`` matches ``valid_credentials``.
- ``/redirect?to=URL&status=307``: redirects to ``to``, carrying every other query parameter
  along (as ``return 307 https://other$request_uri`` redirectors do).
- ``/slow?key=&seconds=``: waits, counting how many requests of ``key`` are in flight at once
  (``max_in_flight[key]``).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ProgrammableApp:
    """Raw ASGI app whose failures are driven by the query string."""

    def __init__(self) -> None:
        """Start with no hits and no valid credentials."""
        self.hits: Counter[str] = Counter()
        self.valid_credentials: set[str] = set()
        self.seen_headers: dict[str, list[dict[str, str]]] = {}
        self.seen_queries: dict[str, list[dict[str, str]]] = {}
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (lifespan is acknowledged)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = dict(parse_qsl(scope["query_string"].decode()))
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        key = query.get("key", "")
        path = scope["path"]
        if key and path != "/hits":
            self.hits[key] += 1
            self.seen_headers.setdefault(key, []).append(headers)
            self.seen_queries.setdefault(key, []).append(query)
        if path == "/echo":
            await _json(
                send,
                200,
                {
                    "method": scope["method"],
                    "path": path,
                    "query": query,
                    "headers": headers,
                    "body": body.decode(),
                },
            )
        elif path == "/flaky":
            if self.hits[key] <= int(query.get("fail", "0")):
                extra = [(b"retry-after", query["retry_after"].encode())] if "retry_after" in query else []
                await _json(send, int(query.get("status", "503")), {"hits": self.hits[key]}, extra)
            else:
                await _json(send, 200, {"hits": self.hits[key]})
        elif path == "/drop":
            if self.hits[key] <= int(query.get("fail", "0")):
                await _drop_connection(receive)
                return
            await _json(send, 200, {"hits": self.hits[key]})
        elif path == "/delay":
            if "fail" not in query or self.hits[key] <= int(query["fail"]):
                await asyncio.sleep(float(query.get("seconds", "0")))
            await _json(send, 200, {"hits": self.hits[key]})
        elif path == "/redirect":
            carried = urlencode([(k, v) for k, v in query.items() if k not in ("to", "status")])
            location = query["to"] + ("&" if "?" in query["to"] else "?") + carried
            await _json(send, int(query.get("status", "307")), {}, [(b"location", location.encode())])
        elif path == "/slow":
            self.in_flight[key] += 1
            self.max_in_flight[key] = max(self.max_in_flight[key], self.in_flight[key])
            try:
                await asyncio.sleep(float(query.get("seconds", "0")))
            finally:
                self.in_flight[key] -= 1
            await _json(send, 200, {"hits": self.hits[key]})
        elif path == "/hits":
            await _json(send, 200, {"hits": self.hits[key]})
        elif path == "/protected":
            offered = {
                headers.get("authorization", ""),
                headers.get("x-api-key", ""),
                query.get("api_key", ""),
            }
            if offered & self.valid_credentials:
                await _json(send, 200, {"hits": self.hits[key]})
            else:
                await _json(send, 401, {"error": "unauthorized"}, [(b"www-authenticate", b"Bearer")])
        else:
            await _json(send, 404, {"error": "not found"})


async def _drop_connection(receive: Receive) -> None:
    """Close the TCP connection under the request (uvicorn's protocol cycle holds the transport)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:  # pragma: no cover - depends on the uvicorn protocol implementation
        raise RuntimeError("cannot reach the connection to drop it")
    transport.close()
    for _ in range(3):  # let uvicorn see the disconnect, so it does not try to answer 500
        await asyncio.sleep(0)


async def _json(
    send: Send, status: int, payload: object, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
