"""The access log cannot be split: every line-breaking or control character is escaped."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from internal_base.logging import JsonFormatter, TextFormatter
from internal_fastapi import RequestLoggingMiddleware

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]

# Every character str.splitlines() breaks on, C1 controls, bidi overrides and lone surrogates.
HOSTILE = [
    ("%0A", "\n", "%0A"),
    ("%0B", "\x0b", "%0B"),
    ("%0C", "\x0c", "%0C"),
    ("%1C", "\x1c", "%1C"),
    ("%1D", "\x1d", "%1D"),
    ("%1E", "\x1e", "%1E"),
    ("%7F", "\x7f", "%7F"),
    ("%C2%85", "\x85", "%C2%85"),
    ("%C2%9B", "\x9b", "%C2%9B"),
    ("%E2%80%A8", "\u2028", "%E2%80%A8"),
    ("%E2%80%A9", "\u2029", "%E2%80%A9"),
    ("%E2%80%AE", "\u202e", "%E2%80%AE"),
]


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "internal_fastapi.access"]


def _rendered(record: logging.LogRecord) -> list[str]:
    return [TextFormatter().format(record), JsonFormatter().format(record)]


def _unsplittable(text: str) -> bool:
    return len(text.splitlines()) == 1 and not any(ch in text for ch in "\x85\u2028\u2029")


@pytest.mark.parametrize(("encoded", "char", "escaped"), HOSTILE)
async def test_line_breaks_in_the_path_are_escaped(
    app: FastAPI,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    encoded: str,
    char: str,
    escaped: str,
) -> None:
    """A percent-encoded line break or control character in the path is logged percent-encoded."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    async with make_client(app) as client:
        await client.get(f"/a{encoded}INFO forged")
    [record] = _records(caplog)
    assert record.__dict__["http_path"] == f"/a{escaped}INFO%20forged"
    assert [_unsplittable(text) for text in [record.getMessage(), *_rendered(record)]] == [True] * 3
    assert char not in record.getMessage()


async def _call(app: RequestLoggingMiddleware, scope: Scope) -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    await app(scope, receive, send)


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _scope(path: str, query: bytes, method: str = "GET") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "query_string": query,
        "headers": [],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }


async def test_raw_bytes_in_the_query_are_escaped(caplog: pytest.LogCaptureFixture) -> None:
    """Raw non-ASCII, control and space bytes in the query string are logged as %XX."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    query = b"q=\x85x&r=\xe2\x80\xa8y&s=\n z&t=%0A"
    await _call(RequestLoggingMiddleware(_ok), _scope("/q", query))
    [record] = _records(caplog)
    assert record.__dict__["http_path"] == "/q?q=%85x&r=%E2%80%A8y&s=%0A%20z&t=%0A"
    assert [_unsplittable(text) for text in [record.getMessage(), *_rendered(record)]] == [True] * 3


async def test_method_and_surrogates_are_escaped(caplog: pytest.LogCaptureFixture) -> None:
    """A hostile method and a lone surrogate in the path are escaped too (no encoding error)."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    await _call(RequestLoggingMiddleware(_ok), _scope("/s\ud800t", b"", method="GET\u2028X"))
    [record] = _records(caplog)
    assert (record.__dict__["http_method"], record.__dict__["http_path"]) == ("GET%E2%80%A8X", "/s%ED%A0%80t")
    assert [_unsplittable(text) for text in [record.getMessage(), *_rendered(record)]] == [True] * 3


async def test_printable_unicode_is_kept(
    app: FastAPI, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Ordinary non-ASCII letters in the path are logged as they are (a space as %20, a field separator)."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    async with make_client(app) as client:
        await client.get("/caf%C3%A9 %E6%97%A5")
    [record] = _records(caplog)
    assert record.__dict__["http_path"] == "/café%20日"
