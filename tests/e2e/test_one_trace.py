"""One trace tree across the stack, with the instrumentation of every library turned on by one call.

The example service (examples/service) runs twice under uvicorn: the instance under test, and a second
one playing its pricing service. Placing an order is an HTTP request → a cache miss and set → an
outgoing internal_http call to the second server (which continues the trace) → a database insert →
an SQS send → the consumer of the first instance confirming the order (database and cache again).
Every span of that work shares one trace id and hangs from the request's server span; every log line
written during it carries that trace id and the id of a span of the tree. A failing route's 500 log
carries its request's trace too.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from orders_service import OrdersSettings, create_app

from internal_base.logging import configure_logging, shutdown_logging
from internal_base.telemetry import Telemetry, configure_telemetry, instrument, uninstrument

CORRELATION_ID = "trace-tree-1"


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """In-memory spans and metrics; every commons library instrumented by one call, undone after."""
    configured = configure_telemetry(service_name="orders-e2e", exporter="memory")
    assert sorted(instrument()) == ["aws", "cache", "fastapi", "http", "rdbms"]
    yield configured
    uninstrument()
    configured.shutdown()


@pytest.fixture()
def json_logs() -> Iterator[io.StringIO]:
    """Every logger's records as JSON lines in a fresh stream."""
    root = logging.getLogger()
    previous = root.level
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    yield stream
    shutdown_logging()
    root.setLevel(previous)


@pytest.fixture()
def _service_env(
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
    redis_url: str,
    redis_key_prefix: str,
    aws_endpoint_url: str,
    aws_credentials: dict[str, str],
) -> None:
    """Point every client of the example at the real services (they read COMMONS_* when they open)."""
    monkeypatch.setenv("COMMONS_RDBMS_URL", postgres_url)
    monkeypatch.setenv("COMMONS_CACHE_URL", redis_url)
    monkeypatch.setenv("COMMONS_CACHE_KEY_PREFIX", f"{redis_key_prefix}trace-{uuid.uuid4().hex[:8]}:")
    monkeypatch.setenv("COMMONS_AWS_ENDPOINT_URL", aws_endpoint_url)
    monkeypatch.setenv("COMMONS_AWS_REGION", aws_credentials["region_name"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", aws_credentials["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws_credentials["aws_secret_access_key"])


def _services(
    serve_asgi: Callable[..., str], monkeypatch: pytest.MonkeyPatch, unique_name: str
) -> tuple[str, str]:
    """Start the pricing instance, then the instance under test calling it; return both base URLs."""
    pricing_url = serve_asgi(create_app(OrdersSettings(queue_name=f"{unique_name}-p"[:80])))
    monkeypatch.setenv("COMMONS_HTTP_BASE_URL", pricing_url)
    orders = create_app(OrdersSettings(queue_name=unique_name))

    @orders.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the route failed")

    return serve_asgi(orders), pricing_url


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def _wait_confirmed(client: httpx.AsyncClient, order_id: int) -> None:
    async with asyncio.timeout(60):
        while (await client.get(f"/orders/{order_id}")).json()["status"] != "confirmed":
            await asyncio.sleep(0.1)


async def _settled_spans(telemetry: Telemetry) -> list[ReadableSpan]:
    """The finished spans once the consumer's span has ended and every parent has ended too.

    Spans end on the servers' threads and the consumer's task, after the client saw what it waited for.
    """
    assert telemetry.span_exporter is not None
    async with asyncio.timeout(30):
        while True:
            spans = list(telemetry.span_exporter.get_finished_spans())
            ids = {s.context.span_id for s in spans}
            local_parents = {
                s.parent.span_id for s in spans if s.parent is not None and not s.parent.is_remote
            }
            if any(s.kind is SpanKind.CONSUMER for s in spans) and local_parents <= ids:
                return spans
            await asyncio.sleep(0.05)


async def _finished_server_span(telemetry: Telemetry, route: str) -> ReadableSpan:
    """The server span of ``route`` once it has ended (the server thread ends it after responding)."""
    assert telemetry.span_exporter is not None
    async with asyncio.timeout(30):
        while True:
            for finished in telemetry.span_exporter.get_finished_spans():
                if (
                    finished.kind is SpanKind.SERVER
                    and (finished.attributes or {}).get("http.route") == route
                ):
                    return finished
            await asyncio.sleep(0.05)


def _tree(spans: list[ReadableSpan], trace_id: int) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans if s.context.trace_id == trace_id}


@pytest.mark.usefixtures("_service_env")
async def test_an_order_is_one_trace_tree(
    telemetry: Telemetry,
    json_logs: io.StringIO,
    serve_asgi: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    unique_name: str,
) -> None:
    """Request → cache → outgoing call → second server → database → SQS → consumer: one trace."""
    orders_url, pricing_url = _services(serve_asgi, monkeypatch, unique_name)
    async with httpx.AsyncClient(base_url=orders_url, timeout=30) as client:
        placed = await client.post(
            "/orders", json={"sku": "widget-9", "quantity": 2}, headers={"x-correlation-id": CORRELATION_ID}
        )
        assert placed.status_code == 201, placed.text
        await _wait_confirmed(client, placed.json()["id"])

    assert telemetry.span_exporter is not None
    spans = await _settled_spans(telemetry)
    roots = [
        s
        for s in spans
        if s.kind is SpanKind.SERVER
        and s.parent is None
        and (s.attributes or {}).get("http.route") == "/orders"
    ]
    assert len(roots) == 1, [(s.name, s.parent) for s in spans if s.kind is SpanKind.SERVER]
    root = roots[0]
    tree = _tree(spans, root.context.trace_id)

    # Connected: every span of the trace hangs from another span of it, up to the request's server span.
    for member in tree.values():
        if member is not root:
            assert member.parent is not None, member.name
            assert member.parent.span_id in tree, member.name

    kinds = [(s.kind, dict(s.attributes or {})) for s in tree.values()]
    servers = [a for k, a in kinds if k is SpanKind.SERVER]
    assert {a.get("http.route") for a in servers} >= {"/orders", "/prices/{sku}"}
    pricing_server = next(
        s for s in tree.values() if (s.attributes or {}).get("http.route") == "/prices/{sku}"
    )
    client_parent = tree[pricing_server.parent.span_id] if pricing_server.parent else None
    assert client_parent is not None
    assert client_parent.kind is SpanKind.CLIENT  # the internal_http span
    assert str((client_parent.attributes or {}).get("url.full", "")).startswith(pricing_url)
    assert any(a.get("db.system") == "redis" or a.get("db.system.name") == "redis" for k, a in kinds)
    assert any(
        a.get("db.system") == "postgresql" or a.get("db.system.name") == "postgresql" for k, a in kinds
    )
    assert any(k is SpanKind.PRODUCER for k, _ in kinds)
    consumer = [s for s in tree.values() if s.kind is SpanKind.CONSUMER]
    assert consumer, "the consumer's span is not in the request's trace"
    producer_ids = {s.context.span_id for s in tree.values() if s.kind is SpanKind.PRODUCER}
    assert any(s.parent is not None and s.parent.span_id in producer_ids for s in consumer)

    # Every log line of that work carries the trace and the id of one of its spans.
    trace_hex = _hex(root.context.trace_id, 32)
    span_ids = {_hex(span_id, 16) for span_id in tree}
    lines = [r for r in _records(json_logs) if r.get("correlation_id") == CORRELATION_ID]
    loggers = {r["logger"] for r in lines}
    assert {"internal_fastapi.access", "orders_service", "orders_service.worker"} <= loggers, loggers
    for line in lines:
        assert line["trace_id"] == trace_hex, line
        assert line["span_id"] in span_ids, line


@pytest.mark.usefixtures("_service_env")
async def test_a_failing_route_logs_its_trace(
    telemetry: Telemetry,
    json_logs: io.StringIO,
    serve_asgi: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    unique_name: str,
) -> None:
    """The 500's error log and access line carry the trace and span ids of the request's server span."""
    orders_url, _ = _services(serve_asgi, monkeypatch, unique_name)
    async with httpx.AsyncClient(base_url=orders_url, timeout=30) as client:
        failed = await client.get("/boom", headers={"x-correlation-id": "boom-1"})
    assert failed.status_code == 500
    assert failed.headers["content-type"].startswith("application/problem+json")

    assert telemetry.span_exporter is not None
    # The server span ends (and the access line is written) after the client has the response.
    server = await _finished_server_span(telemetry, "/boom")
    ours = {
        _hex(s.context.span_id, 16)
        for s in telemetry.span_exporter.get_finished_spans()
        if s.context.trace_id == server.context.trace_id
    }
    lines = [r for r in _records(json_logs) if r.get("correlation_id") == "boom-1"]
    levels = {r["level"] for r in lines}
    assert "ERROR" in levels, lines
    for line in lines:
        assert line["trace_id"] == _hex(server.context.trace_id, 32), line
        assert line["span_id"] in ours, line
