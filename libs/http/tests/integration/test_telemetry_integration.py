"""Integration: client spans, trace continuation and the duration metric against a loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from internal_base.context import correlation_scope
from internal_base.resilience import testing
from internal_base.telemetry import Telemetry, configure_telemetry
from internal_http import (
    ApiKeyAuth,
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    HttpUnavailableError,
    RetryConfig,
    TimeoutConfig,
    create_client,
)
from internal_http.telemetry import ATTEMPT_EVENT, DURATION_METRIC, instrument, uninstrument

from .app import ProgrammableApp


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """In-memory providers with internal_http instrumented; uninstrumented afterwards."""
    configured = configure_telemetry(service_name="http-telemetry-test", exporter="memory")
    instrument()
    try:
        yield configured
    finally:
        uninstrument()


@pytest.fixture()
def no_wait() -> Iterator[testing]:
    """Skip (and record) every backoff wait."""
    with testing() as mode:
        yield mode


def _client_spans(telemetry: Telemetry) -> list[ReadableSpan]:
    assert telemetry.span_exporter is not None
    return [
        span
        for span in telemetry.span_exporter.get_finished_spans()
        if span.instrumentation_scope is not None and span.instrumentation_scope.name == "internal_http"
    ]


def _only_span(telemetry: Telemetry) -> ReadableSpan:
    spans = _client_spans(telemetry)
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def _traceparent_ids(traceparent: str) -> tuple[str, str]:
    version, trace_id, span_id, _flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id


def _ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


def _attempts(span: ReadableSpan) -> list[dict[str, Any]]:
    return [dict(event.attributes or {}) for event in span.events if event.name == ATTEMPT_EVENT]


def _duration_points(telemetry: Telemetry) -> list[HistogramDataPoint]:
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    if data is None:  # nothing was ever recorded
        return []
    points: list[HistogramDataPoint] = []
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == DURATION_METRIC:
                    assert metric.unit == "s"
                    points.extend(p for p in metric.data.data_points if isinstance(p, HistogramDataPoint))
    return points


def _attrs(point: HistogramDataPoint) -> dict[str, Any]:
    return dict(point.attributes or {})


def _all_text(spans: Sequence[ReadableSpan]) -> str:
    parts: list[str] = []
    for span in spans:
        parts.append(span.name)
        parts.extend(str(value) for value in (span.attributes or {}).values())
        for event in span.events:
            parts.extend(str(value) for value in (event.attributes or {}).values())
        parts.append(str(span.status.description))
    return " ".join(parts)


async def test_one_client_span_with_semconv_attributes(base_url: str, key: str, telemetry: Telemetry) -> None:
    """A GET is one CLIENT span named after the method, with the stable semconv attributes."""
    url = httpx.URL(base_url)
    async with create_client(HttpSettings(base_url=base_url)) as client:
        response = await client.get("/echo", params={"key": key})
    assert response.status_code == 200
    span = _only_span(telemetry)
    assert span.name == "GET"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["url.full"] == f"{base_url}/echo?key={key}"
    assert attributes["server.address"] == url.host
    assert attributes["server.port"] == url.port
    assert attributes["http.response.status_code"] == 200
    assert attributes["network.protocol.version"] == "1.1"
    assert "error.type" not in attributes
    assert _attempts(span) == []  # answered by its first request: the span is that request


async def test_traceparent_carries_the_client_span_id(
    base_url: str, key: str, app: ProgrammableApp, telemetry: Telemetry
) -> None:
    """The server receives the CLIENT span's id as parent; the client span is the caller span's child."""
    tracer = telemetry.tracer_provider.get_tracer("test")
    async with create_client(HttpSettings(base_url=base_url)) as client:
        with tracer.start_as_current_span("caller") as caller, correlation_scope("corr-telemetry-1"):
            response = await client.get("/echo", params={"key": key})
    received = response.json()["headers"]
    span = _only_span(telemetry)
    trace_id, span_id = _ids(span)
    assert _traceparent_ids(received["traceparent"]) == (trace_id, span_id)
    assert span.parent is not None
    assert span.parent.span_id == caller.get_span_context().span_id
    assert trace_id == format(caller.get_span_context().trace_id, "032x")
    # Correlation headers keep working next to the trace headers, and the span carries the id.
    assert received["x-correlation-id"] == "corr-telemetry-1"
    assert dict(span.attributes or {})["commons.correlation_id"] == "corr-telemetry-1"


async def test_a_callers_traceparent_is_replaced_by_the_client_span(
    base_url: str, key: str, telemetry: Telemetry
) -> None:
    """A traceparent set by the caller would skip the CLIENT span: the span's own id is sent instead."""
    stale = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with create_client(HttpSettings(base_url=base_url)) as client:
        response = await client.get("/echo", params={"key": key}, headers={"traceparent": stale})
    assert _traceparent_ids(response.json()["headers"]["traceparent"]) == _ids(_only_span(telemetry))


async def test_retries_are_attempt_events_of_one_span(
    base_url: str, key: str, app: ProgrammableApp, telemetry: Telemetry, no_wait: testing
) -> None:
    """Two 503s then a 200: one span, three attempt events, every attempt sent the span's id."""
    settings = HttpSettings(
        base_url=base_url, resilience=HttpResilienceSettings(retry=RetryConfig(attempts=4))
    )
    async with create_client(settings) as client:
        response = await client.get("/flaky", params={"key": key, "fail": "2"})
    assert response.status_code == 200
    span = _only_span(telemetry)
    attempts = _attempts(span)
    assert [event["internal_http.attempt"] for event in attempts] == [1, 2, 3]
    assert [event["http.response.status_code"] for event in attempts] == [503, 503, 200]
    assert [event.get("http.request.resend_count") for event in attempts] == [None, 1, 2]
    assert all(event["internal_http.retry_in"] >= 0 for event in attempts[:2])
    assert "internal_http.retry_in" not in attempts[2]
    attributes = dict(span.attributes or {})
    assert attributes["http.request.resend_count"] == 2
    assert attributes["http.response.status_code"] == 200
    sent = {_traceparent_ids(headers["traceparent"]) for headers in app.seen_headers[key]}
    assert sent == {_ids(span)}


async def test_a_redirect_is_one_span_with_an_event_per_hop(
    base_url: str, other_url: str, key: str, other_app: ProgrammableApp, telemetry: Telemetry
) -> None:
    """Following a redirect to another server stays one span; the hop's event names its URL."""
    settings = HttpSettings(base_url=base_url, follow_redirects=True)
    async with create_client(settings) as client:
        response = await client.get("/redirect", params={"to": f"{other_url}/echo", "key": key})
    assert response.status_code == 200
    span = _only_span(telemetry)
    attempts = _attempts(span)
    assert [event["http.response.status_code"] for event in attempts] == [307, 200]
    assert "url.full" not in attempts[0]
    assert attempts[1]["url.full"] == f"{other_url}/echo?key={key}"
    assert attempts[1]["http.request.resend_count"] == 1
    assert dict(span.attributes or {})["http.response.status_code"] == 200
    received = other_app.seen_headers[key][0]["traceparent"]
    assert _traceparent_ids(received) == _ids(span)


async def test_a_failed_call_records_error_type_on_span_and_metric(
    base_url: str, key: str, telemetry: Telemetry, no_wait: testing
) -> None:
    """Dropped connections on every attempt: the span and the metric carry the exception's type."""
    settings = HttpSettings(
        base_url=base_url, resilience=HttpResilienceSettings(retry=RetryConfig(attempts=2))
    )
    async with create_client(settings) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/drop", params={"key": key, "fail": "5"})
    span = _only_span(telemetry)
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "httpx.RemoteProtocolError"
    assert "http.response.status_code" not in attributes
    assert [event["error.type"] for event in _attempts(span)] == ["httpx.RemoteProtocolError"] * 2
    assert any(event.name == "exception" for event in span.events)
    failed = [
        p for p in _duration_points(telemetry) if _attrs(p).get("error.type") == "httpx.RemoteProtocolError"
    ]
    assert len(failed) == 1
    assert failed[0].count == 1
    assert _attrs(failed[0])["http.request.method"] == "GET"


async def test_an_error_status_marks_the_span_failed(base_url: str, key: str, telemetry: Telemetry) -> None:
    """A 404 answer ends the span with status ERROR and error.type "404" (client span semconv)."""
    async with create_client(HttpSettings(base_url=base_url)) as client:
        response = await client.get("/flaky", params={"key": key, "fail": "1", "status": "404"})
    assert response.status_code == 404
    span = _only_span(telemetry)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "404"
    assert dict(span.attributes or {})["http.response.status_code"] == 404


async def test_an_open_breaker_is_a_failed_span_without_attempts(
    base_url: str, key: str, telemetry: Telemetry
) -> None:
    """A call the open breaker refuses is still visible: a span with error.type and no attempt."""
    resilience = HttpResilienceSettings(
        retry=RetryConfig(attempts=1), breaker=BreakerConfig(failure_threshold=1, reset_timeout=60)
    )
    async with create_client(HttpSettings(base_url=base_url, resilience=resilience)) as client:
        first = await client.get("/flaky", params={"key": key, "fail": "5"})
        assert first.status_code == 503
        with pytest.raises(HttpUnavailableError):
            await client.get("/flaky", params={"key": key, "fail": "5"})
    refused = _client_spans(telemetry)[1]
    assert dict(refused.attributes or {})["error.type"] == "internal_http.HttpUnavailableError"
    assert refused.status.status_code is StatusCode.ERROR
    assert _attempts(refused) == []


async def test_url_full_never_carries_credentials(
    base_url: str, key: str, app: ProgrammableApp, telemetry: Telemetry
) -> None:
    """Userinfo, secret query values and an ApiKeyAuth query key are masked in every span field."""
    app.valid_credentials.add("query-key-secret-1")
    url = httpx.URL(base_url)
    with_userinfo = f"http://alice:userinfo-secret-2@{url.host}:{url.port}"
    auth = ApiKeyAuth("query-key-secret-1", query_param="tenant_key")
    async with create_client(HttpSettings(base_url=with_userinfo), auth=auth) as client:
        response = await client.get(
            "/echo", params={"key": key, "access_token": "token-secret-3", "telemetry_view": "2"}
        )
    assert response.status_code == 200
    assert response.json()["query"]["tenant_key"] == "query-key-secret-1"  # really sent
    span = _only_span(telemetry)
    text = _all_text([span])
    for secret in ("query-key-secret-1", "userinfo-secret-2", "token-secret-3", "alice"):
        assert secret not in text
    full = str(dict(span.attributes or {})["url.full"])
    assert full.startswith(f"http://***@{url.host}:{url.port}/echo?")
    assert "telemetry_view=2" in str(full)
    assert "access_token=***" in str(full)
    # The auth flow adds its key after the span started (url.full is the caller's URL); never in clear.
    assert "tenant_key" not in str(full) or "tenant_key=***" in str(full)


async def test_concurrent_calls_each_send_their_own_span_id(
    base_url: str, app: ProgrammableApp, telemetry: Telemetry
) -> None:
    """Twenty concurrent calls: twenty spans, each server request parented by its own span."""
    keys = [f"concurrent-{index}-{id(app)}" for index in range(20)]
    async with create_client(HttpSettings(base_url=base_url)) as client:
        await asyncio.gather(*(client.get("/echo", params={"key": k}) for k in keys))
    spans = _client_spans(telemetry)
    assert len(spans) == 20
    by_url = {str(dict(span.attributes or {})["url.full"]).rsplit("key=", 1)[1]: span for span in spans}
    for k in keys:
        assert _traceparent_ids(app.seen_headers[k][0]["traceparent"]) == _ids(by_url[k])


async def test_duration_metric_with_the_in_memory_reader(
    base_url: str, key: str, telemetry: Telemetry
) -> None:
    """Three GETs and a POST: http.client.request.duration points per method with semconv attributes."""
    url = httpx.URL(base_url)
    async with create_client(HttpSettings(base_url=base_url)) as client:
        for _ in range(3):
            (await client.get("/echo", params={"key": key})).raise_for_status()
        (await client.post("/echo", params={"key": key}, json={"a": 1})).raise_for_status()
    points = {_attrs(p)["http.request.method"]: p for p in _duration_points(telemetry)}
    assert set(points) == {"GET", "POST"}
    assert points["GET"].count == 3
    assert points["POST"].count == 1
    for point in points.values():
        assert _attrs(point) == {
            "http.request.method": _attrs(point)["http.request.method"],
            "server.address": url.host,
            "server.port": url.port,
            "http.response.status_code": 200,
            "network.protocol.version": "1.1",
        }
        assert 0 < point.sum < 30 * point.count
        assert point.explicit_bounds[0] == 0.005


async def test_uninstrumented_calls_make_no_spans(base_url: str, key: str, telemetry: Telemetry) -> None:
    """After uninstrument() nothing is recorded, and traceparent is the caller's span as before."""
    uninstrument()
    tracer = telemetry.tracer_provider.get_tracer("test")
    async with create_client(HttpSettings(base_url=base_url)) as client:
        with tracer.start_as_current_span("caller") as caller:
            response = await client.get("/echo", params={"key": key})
    assert _client_spans(telemetry) == []
    assert _duration_points(telemetry) == []
    caller_ids = (
        format(caller.get_span_context().trace_id, "032x"),
        format(caller.get_span_context().span_id, "016x"),
    )
    assert _traceparent_ids(response.json()["headers"]["traceparent"]) == caller_ids


async def test_a_client_created_before_instrument_is_covered(base_url: str, key: str) -> None:
    """instrument() applies to clients that already exist."""
    configured = configure_telemetry(service_name="http-telemetry-late", exporter="memory")
    async with create_client(HttpSettings(base_url=base_url, timeout=TimeoutConfig(read=5.0))) as client:
        await client.get("/echo", params={"key": key})
        instrument()
        try:
            await client.get("/echo", params={"key": key})
        finally:
            uninstrument()
        await client.get("/echo", params={"key": key})
    assert len(_client_spans(configured)) == 1


async def test_a_dropped_connection_then_an_answer_are_two_attempt_events(
    base_url: str, key: str, telemetry: Telemetry, no_wait: testing
) -> None:
    """A retried transport failure is an event with its error.type; the span itself succeeded."""
    settings = HttpSettings(
        base_url=base_url, resilience=HttpResilienceSettings(retry=RetryConfig(attempts=3))
    )
    async with create_client(settings) as client:
        response = await client.get("/drop", params={"key": key, "fail": "1"})
    assert response.status_code == 200
    span = _only_span(telemetry)
    first, second = _attempts(span)
    assert first["error.type"] == "httpx.RemoteProtocolError"
    assert "http.response.status_code" not in first
    assert second["http.response.status_code"] == 200
    assert second["http.request.resend_count"] == 1
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in dict(span.attributes or {})
