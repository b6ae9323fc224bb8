"""One correlation ID and one W3C trace cross internal_base, internal_http, internal_cache and a server.

The client side runs inside ``correlation_scope`` and a ``span``; the server (a plain ASGI app served by
uvicorn through the ``serve_asgi`` fixture) restores the context with ``extract_context`` from the
request headers. Logs of both sides go through ``configure_logging(json=True)`` into one stream.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry import trace

from internal_base.context import (
    CORRELATION_ID_HEADER,
    correlation_scope,
    extract_context,
    get_correlation_id,
)
from internal_base.logging import configure_logging, get_logger, shutdown_logging
from internal_base.telemetry import Telemetry, configure_telemetry, span
from internal_cache import CacheClient
from internal_http import HttpSettings, create_client

CORRELATION_ID = "corr-123"
SERVER_LOGGER = "e2e.server"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _current_ids() -> tuple[str | None, str | None]:
    """The current span's trace and span IDs as lowercase hex, or None when there is no valid span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that restores the caller's context, logs once, and echoes headers and context."""
    assert scope["type"] == "http"
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    with extract_context(headers):
        remote_trace_id, remote_span_id = _current_ids()
        with span("e2e.server.handle", path=scope["path"]):
            trace_id, span_id = _current_ids()
            get_logger(SERVER_LOGGER).info("handled %s", scope["path"])
            body = {
                "headers": headers,
                "correlation_id": get_correlation_id(),
                "remote_trace_id": remote_trace_id,
                "remote_span_id": remote_span_id,
                "trace_id": trace_id,
                "span_id": span_id,
            }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@dataclass
class JsonLogs:
    """The JSON lines written by ``configure_logging`` into an in-memory stream."""

    stream: io.StringIO

    def records(self, logger_prefix: str = "") -> list[dict[str, Any]]:
        """Every record so far, parsed, whose logger name starts with ``logger_prefix``."""
        parsed = [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]
        return [r for r in parsed if str(r.get("logger", "")).startswith(logger_prefix)]


@pytest.fixture()
def json_logs() -> Iterator[JsonLogs]:
    """JSON logging of every logger at DEBUG into a fresh stream; the previous root level is restored."""
    root = logging.getLogger()
    previous_level = root.level
    stream = io.StringIO()
    configure_logging(level="DEBUG", json=True, stream=stream)
    try:
        yield JsonLogs(stream)
    finally:
        shutdown_logging()
        root.setLevel(previous_level)


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """A tracer provider with an in-memory span exporter (OpenTelemetry's globals are left alone)."""
    configured = configure_telemetry(service_name="commons-e2e", exporter="memory", set_global=False)
    assert configured.span_exporter is not None
    yield configured
    configured.span_exporter.clear()


@pytest.fixture(scope="module")
def echo_url(serve_asgi: Callable[..., str]) -> str:
    """Base URL of the echo app served by uvicorn on a loopback port."""
    return serve_asgi(echo_app, lifespan="off")


def _fast_client(base_url: str) -> httpx.AsyncClient:
    """An internal_http client for the loopback server with short timeouts and a single attempt."""
    settings = HttpSettings.model_validate(
        {
            "base_url": base_url,
            "timeout": {"connect": 5, "read": 10, "write": 10, "pool": 5},
            "resilience": {"retry": {"attempts": 1}},
        }
    )
    return create_client(settings)


async def test_request_carries_correlation_id_and_trace(
    echo_url: str, json_logs: JsonLogs, telemetry: Telemetry
) -> None:
    """A request sent in a correlation scope and span arrives with X-Correlation-ID and the span's trace."""
    async with _fast_client(echo_url) as client:
        with correlation_scope(CORRELATION_ID):
            async with span("e2e.client.call") as client_span:
                trace_id = format(client_span.get_span_context().trace_id, "032x")
                response = await client.get("/orders/42")

    assert response.status_code == 200
    echoed = response.json()
    received = {name.lower(): value for name, value in echoed["headers"].items()}
    assert received[CORRELATION_ID_HEADER.lower()] == CORRELATION_ID
    version, header_trace_id, parent_span_id, flags = received["traceparent"].split("-")
    assert (version, len(parent_span_id), len(flags)) == ("00", 16, 2)
    assert header_trace_id == trace_id

    # On the server, extract_context restored both the correlation ID and the remote trace.
    assert echoed["correlation_id"] == CORRELATION_ID
    assert echoed["remote_trace_id"] == trace_id
    assert echoed["remote_span_id"] == parent_span_id
    assert echoed["trace_id"] == trace_id
    assert echoed["span_id"] != parent_span_id

    # The server span was exported as a child of the propagated parent, with the correlation attribute.
    assert telemetry.span_exporter is not None
    finished = {s.name: s for s in telemetry.span_exporter.get_finished_spans()}
    server_span = finished["e2e.server.handle"]
    assert server_span.parent is not None
    assert format(server_span.parent.span_id, "016x") == parent_span_id
    assert format(server_span.context.trace_id, "032x") == trace_id
    assert server_span.attributes is not None
    assert server_span.attributes["commons.correlation_id"] == CORRELATION_ID
    assert format(finished["e2e.client.call"].context.trace_id, "032x") == trace_id


async def test_server_log_record_carries_correlation_id(
    echo_url: str, json_logs: JsonLogs, telemetry: Telemetry
) -> None:
    """The server's JSON log line, written inside extract_context, has the caller's correlation/trace IDs."""
    async with _fast_client(echo_url) as client:
        with correlation_scope(CORRELATION_ID):
            async with span("e2e.client.log") as client_span:
                trace_id = format(client_span.get_span_context().trace_id, "032x")
                response = await client.get("/log-me")
    assert response.status_code == 200

    server_records = json_logs.records(SERVER_LOGGER)
    assert len(server_records) == 1, server_records
    record = server_records[0]
    assert record["message"] == "handled /log-me"
    assert record["level"] == "INFO"
    assert record["correlation_id"] == CORRELATION_ID
    assert record["trace_id"] == trace_id
    assert record["span_id"] == response.json()["span_id"]


async def test_client_side_logs_carry_correlation_id(
    echo_url: str, json_logs: JsonLogs, telemetry: Telemetry
) -> None:
    """The client's own log lines (httpx and internal_http) carry the correlation ID of the scope."""
    async with _fast_client(echo_url) as client:
        with correlation_scope(CORRELATION_ID):
            response = await client.get("/client-logs")
    assert response.status_code == 200

    client_records = json_logs.records("httpx") + json_logs.records("internal_http")
    assert client_records, json_logs.stream.getvalue()
    assert {r["correlation_id"] for r in client_records} == {CORRELATION_ID}


async def test_concurrent_scopes_do_not_mix(echo_url: str, json_logs: JsonLogs, telemetry: Telemetry) -> None:
    """Concurrent requests in different correlation scopes each arrive with their own ID."""

    async def call(correlation_id: str) -> str:
        with correlation_scope(correlation_id):
            response = await client.get(f"/concurrent/{correlation_id}")
        assert response.status_code == 200
        received: str = response.json()["correlation_id"]
        return received

    ids = [f"corr-{n}-{uuid.uuid4().hex[:8]}" for n in range(5)]
    async with _fast_client(echo_url) as client:
        assert await asyncio.gather(*(call(i) for i in ids)) == ids
    by_path = {r["message"].removeprefix("handled /concurrent/"): r for r in json_logs.records(SERVER_LOGGER)}
    assert {key: r["correlation_id"] for key, r in by_path.items()} == {i: i for i in ids}


async def test_cache_round_trip_in_correlation_scope(
    redis_url: str, redis_key_prefix: str, json_logs: JsonLogs, telemetry: Telemetry
) -> None:
    """A prefixed cached value round-trips in a correlation scope; the cache's logs carry the ID."""
    prefix = f"{redis_key_prefix}e2e:{uuid.uuid4().hex[:8]}:"
    value = {"order": 42, "items": ["a", "b"], "note": "ünïcode"}
    computed: list[str] = []

    async def compute() -> dict[str, str]:
        computed.append(get_correlation_id() or "")
        return {"computed": "yes"}

    async with CacheClient.from_url(redis_url, key_prefix=prefix) as cache:
        try:
            with correlation_scope(CORRELATION_ID):
                async with span("e2e.cache"):
                    assert await cache.set_value("order:42", value, ttl=60) is True
                    assert await cache.get_value("order:42") == value
                    # The key lives under the prefix on the server, and nowhere else.
                    assert await cache.redis.exists(f"{prefix}order:42") == 1
                    assert await cache.redis.exists("order:42") == 0
                    # Another process holds get_or_set's lock: the client logs, then computes anyway.
                    async with cache.lock("slow:get_or_set.lock", ttl=10, timeout=2, fencing=False):
                        result = await cache.get_or_set("slow", compute, ttl=60, lock_timeout=0.2)
                    assert result == {"computed": "yes"}
                    assert await cache.get_value("slow") == {"computed": "yes"}
        finally:
            await cache.delete("order:42", "slow", "slow:get_or_set.lock")

    assert computed == [CORRELATION_ID]
    cache_records = json_logs.records("internal_cache")
    assert any("lock busy" in r["message"] for r in cache_records), json_logs.stream.getvalue()
    assert {r["correlation_id"] for r in cache_records} == {CORRELATION_ID}
