"""Integration: the client against a real uvicorn server on loopback."""

from __future__ import annotations

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace

from internal_base.context import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, correlation_scope
from internal_http import (
    ATTEMPTS_EXTENSION,
    HttpResilienceSettings,
    HttpSettings,
    RetryConfig,
    TimeoutConfig,
    create_client,
)

from .app import ProgrammableApp

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331


async def test_get_echo(base_url: str, key: str) -> None:
    """A GET through the real stack returns the server's answer and default headers arrive."""
    settings = HttpSettings(base_url=base_url, headers={"User-Agent": "it/1"})
    async with create_client(settings) as client:
        response = await client.get("/echo", params={"key": key, "q": "1"})
    body = response.json()
    assert response.status_code == 200
    assert response.extensions[ATTEMPTS_EXTENSION] == 1
    assert body["query"] == {"key": key, "q": "1"}
    assert body["headers"]["user-agent"] == "it/1"


async def test_correlation_id_and_traceparent_arrive(base_url: str, key: str, app: ProgrammableApp) -> None:
    """The correlation id, request id and W3C traceparent of the caller's context reach the server."""
    span_context = trace.SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=trace.TraceFlags(1))
    token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
    try:
        async with (
            create_client(HttpSettings(base_url=base_url)) as client,
            correlation_scope("corr-it-1", request_id="req-it-1"),
        ):
            await client.get("/echo", params={"key": key})
    finally:
        otel_context.detach(token)
    (headers,) = app.seen_headers[key]
    assert headers["x-correlation-id"] == "corr-it-1"
    assert headers["x-request-id"] == "req-it-1"
    assert headers["traceparent"] == f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"


async def test_caller_headers_win(base_url: str, key: str, app: ProgrammableApp) -> None:
    """Context injection never overwrites a header set by the caller."""
    async with create_client(HttpSettings(base_url=base_url)) as client, correlation_scope("ctx"):
        await client.get(
            "/echo", params={"key": key}, headers={CORRELATION_ID_HEADER: "caller", REQUEST_ID_HEADER: "r"}
        )
    (headers,) = app.seen_headers[key]
    assert headers["x-correlation-id"] == "caller"
    assert headers["x-request-id"] == "r"


async def test_http2_option_against_http1_server(base_url: str, key: str) -> None:
    """With http2 on, plain-http requests still work (HTTP/1.1 without TLS negotiation)."""
    async with create_client(HttpSettings(base_url=base_url, http2=True)) as client:
        response = await client.post("/echo", params={"key": key}, json={"a": 1})
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    assert response.json()["body"] == '{"a":1}'


async def test_read_timeout_from_settings(base_url: str, key: str) -> None:
    """The per-phase read timeout applies (no retries: attempts=1)."""
    settings = HttpSettings(
        base_url=base_url,
        timeout=TimeoutConfig(read=0.5),
        resilience=HttpResilienceSettings(retry=RetryConfig(attempts=1)),
    )
    async with create_client(settings) as client:
        try:
            await client.get("/delay", params={"key": key, "seconds": "3"})
        except httpx.ReadTimeout as exc:
            error: Exception | None = exc
        else:  # pragma: no cover - only when the timeout is broken
            error = None
    assert isinstance(error, httpx.ReadTimeout)
