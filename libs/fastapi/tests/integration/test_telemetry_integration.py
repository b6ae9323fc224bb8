"""Server spans, http.server.* metrics and trace IDs in logs, over a real uvicorn server.

In-memory exporter and reader (``configure_telemetry(exporter="memory")``); apps served by
uvicorn on a loopback port, or in-process through ``httpx.ASGITransport`` where a test wraps the
app in its own span.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import baggage
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from starlette.types import Receive, Scope, Send

from internal_base.health import HealthRegistry
from internal_base.logging import ContextFilter, JsonFormatter, RedactionFilter
from internal_base.telemetry import Telemetry, configure_telemetry, get_tracer, span
from internal_fastapi import FastAPISettings, install
from internal_fastapi.telemetry import instrument, is_instrumented, uninstrument
from internal_testing import serve_asgi_app

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
# FastAPI's own telemetry off: the tests decide which instrumentation runs.
NATIVE_OFF: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """Fresh in-memory providers; every app instrumented by the test is uninstrumented after it."""
    yield configure_telemetry(service_name="fastapi-tests", exporter="memory")
    uninstrument()


@pytest.fixture()
def json_logs() -> Iterator[io.StringIO]:
    """The JSON lines every logger writes during the test (internal_base's formatter and filters)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def _app(settings: FastAPISettings | None = None, *, telemetry: dict[str, Any] | None = None) -> FastAPI:
    app = FastAPI(telemetry=cast(Any, telemetry))
    install(app, settings or FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/jobs/{item}")
    async def work(item: int) -> dict[str, int]:
        with span("route.work", item=item):
            logging.getLogger("tests.route").info("working on %s", item)
        return {"item": item}

    @app.get("/baggage")
    async def read_baggage() -> dict[str, object]:
        with span("route.baggage"):
            return dict(baggage.get_all())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


def _wait_for(telemetry: Telemetry, predicate: Callable[[list[ReadableSpan]], bool]) -> list[ReadableSpan]:
    """The finished spans once ``predicate`` holds (the server span ends after the response is sent)."""
    assert telemetry.span_exporter is not None
    deadline = time.monotonic() + 15
    while True:
        spans = list(telemetry.span_exporter.get_finished_spans())
        if predicate(spans):
            return spans
        assert time.monotonic() < deadline, f"spans never matched: {[s.name for s in spans]}"
        time.sleep(0.02)


def _named(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [found] = [s for s in spans if s.name == name]
    return found


def _server(spans: list[ReadableSpan]) -> ReadableSpan:
    [found] = [s for s in spans if s.kind is SpanKind.SERVER]
    return found


def _parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def _has(*names: str) -> Callable[[list[ReadableSpan]], bool]:
    return lambda spans: all(any(s.name == n for s in spans) for n in names)


def _has_server(spans: list[ReadableSpan]) -> bool:
    return any(s.kind is SpanKind.SERVER for s in spans)


@contextmanager
def _served(app: FastAPI) -> Iterator[httpx.Client]:
    with serve_asgi_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_the_server_span_is_the_parent_of_the_route_spans(telemetry: Telemetry) -> None:
    """instrument(app): a SERVER span per request with semconv attributes and the correlation ID, parent of
    the route's spans."""
    app = _app()
    instrument(app)
    with _served(app) as client:
        response = client.get("/jobs/7", headers={"X-Correlation-ID": "corr-telemetry-1"})
    assert response.status_code == 200
    spans = _wait_for(telemetry, lambda s: _has("route.work")(s) and _has_server(s))
    server, route = _server(spans), _named(spans, "route.work")
    assert server.parent is None  # no traceparent: the request starts a trace
    assert _parent_id(route) == server.context.span_id
    assert route.context.trace_id == server.context.trace_id
    attributes = dict(server.attributes or {})
    assert attributes["commons.correlation_id"] == "corr-telemetry-1"
    assert (attributes["http.request.method"], attributes["http.route"]) == ("GET", "/jobs/{item}")
    assert attributes["http.response.status_code"] == 200
    assert server.name == "GET /jobs/{item}"
    assert [s.name for s in spans if "http send" in s.name or "http receive" in s.name] == []


def test_an_incoming_traceparent_is_continued_by_the_server_span(telemetry: Telemetry) -> None:
    """With a traceparent the server span continues that trace and the route spans stay its children."""
    app = _app()
    instrument(app)
    with _served(app) as client:
        client.get("/jobs/1", headers={"traceparent": TRACEPARENT}).raise_for_status()
    spans = _wait_for(telemetry, lambda s: _has("route.work")(s) and _has_server(s))
    server, route = _server(spans), _named(spans, "route.work")
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert _parent_id(server) == int(PARENT_ID, 16)
    assert _parent_id(route) == server.context.span_id


@pytest.mark.parametrize("traceparent", [None, TRACEPARENT])
def test_fastapis_own_server_span_parents_the_route_spans(
    telemetry: Telemetry, traceparent: str | None
) -> None:
    """Without the instrumentor, FastAPI's native server span is joined, with or without traceparent."""
    app = _app(
        telemetry={
            "tracer_provider": telemetry.tracer_provider,
            "meter_provider": telemetry.meter_provider,
            "logs": False,
            "operation_spans": False,
        }
    )
    headers = {"traceparent": traceparent} if traceparent else {}
    with _served(app) as client:
        client.get("/jobs/2", headers=headers).raise_for_status()
    spans = _wait_for(telemetry, lambda s: _has("route.work")(s) and _has_server(s))
    server, route = _server(spans), _named(spans, "route.work")
    assert _parent_id(route) == server.context.span_id
    assert (format(server.context.trace_id, "032x") == TRACE_ID) is (traceparent is not None)
    correlation_id = dict(route.attributes or {})["commons.correlation_id"]
    assert dict(server.attributes or {})["commons.correlation_id"] == correlation_id


@pytest.fixture()
async def wrapped_client(telemetry: Telemetry) -> AsyncIterator[httpx.AsyncClient]:
    """An installed app (no instrumentor) behind an outer ASGI layer that opens a SERVER span."""
    app = _app(telemetry=NATIVE_OFF)

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        with get_tracer("tests.outer").start_as_current_span("outer", kind=SpanKind.SERVER):
            await app(scope, receive, send)

    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_without_traceparent_the_middleware_joins_the_current_span(
    telemetry: Telemetry, wrapped_client: httpx.AsyncClient
) -> None:
    """No traceparent: the route spans are children of the span current around the app (no detached trace)."""
    (await wrapped_client.get("/jobs/3")).raise_for_status()
    spans = _wait_for(telemetry, _has("route.work", "outer"))
    outer, route = _named(spans, "outer"), _named(spans, "route.work")
    assert _parent_id(route) == outer.context.span_id
    assert route.context.trace_id == outer.context.trace_id


async def test_baggage_without_traceparent_keeps_the_current_span(
    telemetry: Telemetry, wrapped_client: httpx.AsyncClient
) -> None:
    """A baggage header alone is restored without detaching the route from the current span."""
    response = await wrapped_client.get("/baggage", headers={"baggage": "tenant=t-1"})
    assert response.json() == {"tenant": "t-1"}
    spans = _wait_for(telemetry, _has("route.baggage", "outer"))
    assert _parent_id(_named(spans, "route.baggage")) == _named(spans, "outer").context.span_id


async def test_a_traceparent_of_another_trace_is_attached(telemetry: Telemetry, make_client: Any) -> None:
    """No span current (no instrumentation at all): the route spans continue the incoming trace."""
    async with make_client(_app(telemetry=NATIVE_OFF)) as client:
        (await client.get("/jobs/4", headers={"traceparent": TRACEPARENT})).raise_for_status()
    route = _named(_wait_for(telemetry, _has("route.work")), "route.work")
    assert format(route.context.trace_id, "032x") == TRACE_ID
    assert _parent_id(route) == int(PARENT_ID, 16)


def _lines(stream: io.StringIO, logger: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [record for record in records if record["logger"] == logger]


def test_access_and_error_logs_carry_the_server_spans_ids(
    telemetry: Telemetry, json_logs: io.StringIO
) -> None:
    """The access line (200 and 500) and the 500's error log carry the request's trace_id and span_id."""
    app = _app()
    instrument(app)
    with _served(app) as client:
        assert client.get("/jobs/5").status_code == 200
        assert client.get("/boom").status_code == 500
    spans = _wait_for(telemetry, lambda s: sum(x.kind is SpanKind.SERVER for x in s) == 2)
    servers = {s.attributes["http.route"]: s for s in spans if s.kind is SpanKind.SERVER}  # type: ignore[index]
    ids = {
        route: (format(s.context.trace_id, "032x"), format(s.context.span_id, "016x"))
        for route, s in servers.items()
    }
    access = {line["http_path"]: line for line in _lines(json_logs, "internal_fastapi.access")}
    assert (access["/jobs/5"]["trace_id"], access["/jobs/5"]["span_id"]) == ids["/jobs/{item}"]
    assert (access["/boom"]["trace_id"], access["/boom"]["span_id"]) == ids["/boom"]
    [error] = _lines(json_logs, "internal_fastapi.errors")
    assert (error["trace_id"], error["span_id"]) == ids["/boom"]
    [route_line] = _lines(json_logs, "tests.route")
    assert route_line["trace_id"] == ids["/jobs/{item}"][0]
    assert route_line["span_id"] == format(_named(spans, "route.work").context.span_id, "016x")


def _metric_points(telemetry: Telemetry) -> dict[str, list[Any]]:
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(f"{metric.name} [{metric.unit}]", []).extend(metric.data.data_points)
    return found


def test_request_duration_and_active_requests_use_the_stable_names(telemetry: Telemetry) -> None:
    """http.server.request.duration (s, with route and status) and http.server.active_requests."""
    app = _app()
    instrument(app)
    with _served(app) as client:
        client.get("/jobs/6").raise_for_status()
        _wait_for(telemetry, _has_server)
    points = _metric_points(telemetry)
    [duration] = points["http.server.request.duration [s]"]
    assert duration.count == 1
    assert dict(duration.attributes)["http.route"] == "/jobs/{item}"
    assert dict(duration.attributes)["http.response.status_code"] == 200
    active = points["http.server.active_requests [{request}]"]
    assert sum(point.value for point in active) == 0  # one request came and went
    assert "http.server.duration [ms]" not in points  # the old name is not emitted


def test_instrument_everything_covers_apps_installed_before_and_after(telemetry: Telemetry) -> None:
    """instrument() instruments every installed app, once; uninstrument() undoes it."""
    before = _app()
    instrument()
    instrument()
    after = _app()
    plain = FastAPI()
    assert (is_instrumented(before), is_instrumented(after), is_instrumented(plain)) == (True, True, False)
    with _served(after) as client:
        client.get("/jobs/8").raise_for_status()
        _wait_for(telemetry, _has_server)
        uninstrument()
        assert (is_instrumented(before), is_instrumented(after)) == (False, False)
        client.get("/jobs/9").raise_for_status()
    assert telemetry.span_exporter is not None
    spans = _wait_for(telemetry, lambda s: sum(x.name == "route.work" for x in s) == 2)
    assert sum(s.kind is SpanKind.SERVER for s in spans) == 1  # the second request had no server span
    assert is_instrumented(_app()) is False


def test_the_telemetry_setting_instruments_the_app_at_install(telemetry: Telemetry) -> None:
    """FastAPISettings(telemetry=True): the app is instrumented by install()."""
    assert is_instrumented(_app(FastAPISettings(telemetry=True))) is True
    assert is_instrumented(_app(FastAPISettings())) is False
