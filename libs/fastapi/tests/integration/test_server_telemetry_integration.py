"""Server span and metrics of ``internal_fastapi.telemetry``: the cases the main telemetry tests leave out.

Apps without ``install()``, FastAPI's own telemetry stepping aside, route templates of included
routers and mounted apps, errors, masked query values, requests in flight, excluded URLs, and the
access line carrying each ID once. In-memory exporter and reader; uvicorn on loopback or
``httpx.ASGITransport`` where the test must hold a request in flight.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from internal_base.health import HealthRegistry
from internal_base.logging import ContextFilter, JsonFormatter
from internal_base.redaction import MASK
from internal_base.telemetry import Telemetry, configure_telemetry, span
from internal_fastapi import FastAPISettings, install
from internal_fastapi.telemetry import instrument, is_instrumented, uninstrument
from internal_testing import serve_asgi_app

NATIVE_OFF: Any = {"tracing": False, "metrics": False, "logs": False}


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """Fresh in-memory providers; everything instrumented by the test is uninstrumented after it."""
    yield configure_telemetry(service_name="fastapi-server-telemetry", exporter="memory")
    uninstrument()


def _spans(telemetry: Telemetry, predicate: Callable[[list[ReadableSpan]], bool]) -> list[ReadableSpan]:
    """The finished spans once ``predicate`` holds (the server span ends after the response is sent)."""
    assert telemetry.span_exporter is not None
    deadline = time.monotonic() + 15
    while True:
        spans = list(telemetry.span_exporter.get_finished_spans())
        if predicate(spans):
            return spans
        assert time.monotonic() < deadline, f"spans never matched: {[s.name for s in spans]}"
        time.sleep(0.02)


def _servers(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.kind is SpanKind.SERVER]


def _servers_at_least(count: int) -> Callable[[list[ReadableSpan]], bool]:
    return lambda spans: len(_servers(spans)) >= count


def _points(telemetry: Telemetry, name: str) -> list[Any]:
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_an_app_without_install_gets_the_server_span_and_metrics(telemetry: Telemetry) -> None:
    """instrument(app) on a plain FastAPI app: an outer layer records the same span and duration."""
    app = FastAPI(telemetry=NATIVE_OFF)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        with span("route.thing"):
            return {"id": thing_id}

    instrument(app)
    assert is_instrumented(app)
    with serve_asgi_app(app) as url, httpx.Client(base_url=url) as client:
        client.get("/things/3").raise_for_status()
    spans = _spans(telemetry, lambda s: bool(_servers(s)) and any(x.name == "route.thing" for x in s))
    [server] = _servers(spans)
    [route] = [s for s in spans if s.name == "route.thing"]
    assert server.name == "GET /things/{thing_id}"
    assert route.parent is not None
    assert route.parent.span_id == server.context.span_id
    [duration] = _points(telemetry, "http.server.request.duration")
    assert (duration.count, dict(duration.attributes)["http.route"]) == (1, "/things/{thing_id}")


def test_fastapis_own_telemetry_steps_aside_while_instrumented(telemetry: Telemetry) -> None:
    """One server span per request: FastAPI's own is off while instrumented, back after uninstrument(app)."""
    app = FastAPI(
        telemetry={
            "tracer_provider": telemetry.tracer_provider,
            "meter_provider": telemetry.meter_provider,
            "logs": False,
            "operation_spans": False,
        }
    )
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/one")
    async def one() -> dict[str, str]:
        return {"ok": "yes"}

    instrument(app)
    with serve_asgi_app(app) as url, httpx.Client(base_url=url) as client:
        client.get("/one").raise_for_status()
        first = _servers(_spans(telemetry, _servers_at_least(1)))
        uninstrument(app)
        client.get("/one").raise_for_status()
        both = _servers(_spans(telemetry, _servers_at_least(2)))
    assert [s.instrumentation_scope.name for s in first if s.instrumentation_scope] == ["internal_fastapi"]
    assert [s.instrumentation_scope.name for s in both if s.instrumentation_scope] == [
        "internal_fastapi",
        "fastapi",
    ]
    assert sum(p.count for p in _points(telemetry, "http.server.request.duration")) == 2  # one per request


def test_included_and_mounted_routes_are_named_by_their_full_template(telemetry: Telemetry) -> None:
    """http.route and the span name carry the prefixes of included routers and mounts; 404: no route."""
    app = FastAPI(telemetry=NATIVE_OFF)
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))
    inner = APIRouter(prefix="/v1")

    @inner.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    outer = APIRouter(prefix="/api")
    outer.include_router(inner)
    app.include_router(outer)
    sub = FastAPI(telemetry=NATIVE_OFF)

    @sub.get("/ping/{word}")
    async def ping(word: str) -> dict[str, str]:
        return {"word": word}

    app.mount("/sub", sub)
    instrument(app)
    with serve_asgi_app(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/api/v1/items/5").status_code == 200
        assert client.get("/sub/ping/hi").status_code == 200
        assert client.get("/nowhere").status_code == 404
    servers = _servers(_spans(telemetry, _servers_at_least(3)))
    named = sorted((s.name, (s.attributes or {}).get("http.route")) for s in servers)
    assert named == [
        ("GET", None),
        ("GET /api/v1/items/{item_id}", "/api/v1/items/{item_id}"),
        ("GET /sub/ping/{word}", "/sub/ping/{word}"),
    ]


def test_an_unhandled_exception_marks_the_span_and_the_duration(telemetry: Telemetry) -> None:
    """A route's exception: a 500, span status ERROR with the exception event, error.type on both."""
    app = FastAPI(telemetry=NATIVE_OFF)
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/boom")
    async def boom() -> None:
        raise LookupError("nothing here")

    instrument(app)
    with serve_asgi_app(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/boom").status_code == 500
    [server] = _servers(_spans(telemetry, _servers_at_least(1)))
    attributes = dict(server.attributes or {})
    assert (attributes["error.type"], attributes["http.response.status_code"]) == ("LookupError", 500)
    assert server.status.status_code is StatusCode.ERROR
    assert [event.name for event in server.events] == ["exception"]
    [duration] = _points(telemetry, "http.server.request.duration")
    assert dict(duration.attributes)["error.type"] == "LookupError"


def test_secret_query_values_are_masked_on_the_span(telemetry: Telemetry) -> None:
    """url.query keeps ordinary parameters and masks secret-named ones, percent-encoded names too."""
    app = FastAPI(telemetry=NATIVE_OFF)
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/q")
    async def query() -> dict[str, str]:
        return {}

    instrument(app)
    with serve_asgi_app(app) as url, httpx.Client(base_url=url) as client:
        client.get("/q?page=2&token=s3cr3t-value&api%5Fkey=k-9").raise_for_status()
    [server] = _servers(_spans(telemetry, _servers_at_least(1)))
    attributes = dict(server.attributes or {})
    assert attributes["url.query"] == f"page=2&token={MASK}&api%5Fkey={MASK}"
    assert attributes["url.path"] == "/q"
    assert "s3cr3t" not in json.dumps(attributes)
    assert "k-9" not in json.dumps(attributes)


async def test_active_requests_counts_the_requests_in_flight(telemetry: Telemetry) -> None:
    """http.server.active_requests is 1 while a request is held in its route, 0 once it answered."""
    app = FastAPI(telemetry=NATIVE_OFF)
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))
    entered, release = asyncio.Event(), asyncio.Event()

    @app.get("/hold")
    async def hold() -> dict[str, str]:
        entered.set()
        await release.wait()
        return {}

    instrument(app)

    def active() -> list[tuple[dict[str, Any], int]]:
        return [(dict(p.attributes), p.value) for p in _points(telemetry, "http.server.active_requests")]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        request = asyncio.create_task(client.get("/hold"))
        await asyncio.wait_for(entered.wait(), 30)
        assert active() == [({"http.request.method": "GET", "url.scheme": "http"}, 1)]
        release.set()
        assert (await request).status_code == 200
    assert active() == [({"http.request.method": "GET", "url.scheme": "http"}, 0)]


def test_excluded_urls_are_neither_traced_nor_measured(telemetry: Telemetry) -> None:
    """excluded_urls: matching requests get no span and no duration; an invalid regex is named."""
    app = FastAPI(telemetry=NATIVE_OFF)
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/kept")
    async def kept() -> dict[str, str]:
        return {}

    with pytest.raises(ValueError, match=r"'\(unclosed'"):
        instrument(app, excluded_urls="/health,(unclosed")
    assert not is_instrumented(app)
    instrument(app, excluded_urls="/health/")
    with serve_asgi_app(app) as url, httpx.Client(base_url=url) as client:
        client.get("/health/live").raise_for_status()
        client.get("/kept").raise_for_status()
    servers = _servers(_spans(telemetry, _servers_at_least(1)))
    assert [s.name for s in servers] == ["GET /kept"]
    assert [dict(p.attributes)["http.route"] for p in _points(telemetry, "http.server.request.duration")] == [
        "/kept"
    ]


def test_is_instrumented_without_an_app_tells_whether_instrument_is_on_everywhere(
    telemetry: Telemetry,
) -> None:
    """is_instrumented() (what internal_base.telemetry.instrument() asks) follows instrument()."""
    assert is_instrumented() is False
    instrument()
    assert is_instrumented() is True
    uninstrument()
    assert is_instrumented() is False


def test_the_json_access_line_carries_each_id_once(telemetry: Telemetry) -> None:
    """correlation_id and request_id appear once in the access line, with no extra_* copies."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    access = logging.getLogger("internal_fastapi.access")
    previous = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    app = FastAPI(telemetry=NATIVE_OFF)
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/once")
    async def once() -> dict[str, str]:
        return {}

    try:
        with serve_asgi_app(app) as url, httpx.Client(base_url=url) as client:
            response = client.get(
                "/once", headers={"X-Correlation-ID": "corr-once-1", "X-Request-ID": "req-once-1"}
            )
            deadline = time.monotonic() + 15
            while not stream.getvalue() and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["correlation_id"], line["request_id"]) == ("corr-once-1", "req-once-1")
    assert response.headers["x-request-id"] == "req-once-1"
    assert [key for key in line if key.startswith("extra_")] == []
    assert line["http_status"] == 200
