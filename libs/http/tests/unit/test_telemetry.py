"""Unit: instrument()/uninstrument(), span names, error types, URL masking (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from internal_base.errors import CircuitOpenError
from internal_http import ApiKeyAuth, HttpSettings, HttpUnavailableError, create_client
from internal_http._telemetry import _redact_cut, error_type, span_url
from internal_http.telemetry import instrument, is_instrumented, uninstrument


class _Sinks:
    """A tracer and meter provider with plain (non-redacting) in-memory sinks."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def instrument(self) -> None:
        instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()


@pytest.fixture()
def sinks() -> Iterator[_Sinks]:
    """Plain in-memory providers, instrumented; uninstrumented afterwards."""
    made = _Sinks()
    made.instrument()
    try:
        yield made
    finally:
        uninstrument()


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


def _client(handler: Callable[[httpx.Request], Any] = _ok) -> httpx.AsyncClient:
    settings = HttpSettings(base_url="http://api.test", health_check=False)
    return create_client(settings, transport=httpx.MockTransport(handler))


def test_unknown_keyword_is_refused_by_name() -> None:
    """A misspelt option is a TypeError naming it and the accepted ones; nothing is switched on."""
    with pytest.raises(TypeError, match=r"'tracer_providr'.*accepted: meter_provider, tracer_provider"):
        instrument(tracer_providr=TracerProvider())
    assert not is_instrumented()


def test_a_provider_of_the_wrong_type_is_refused() -> None:
    """Passing something that is not an OpenTelemetry provider fails clearly, naming the type."""
    with pytest.raises(TypeError, match="tracer_provider must be an opentelemetry TracerProvider, got str"):
        instrument(tracer_provider="jaeger")
    with pytest.raises(TypeError, match="meter_provider must be an opentelemetry MeterProvider, got int"):
        instrument(tracer_provider=TracerProvider(), meter_provider=3)
    assert not is_instrumented()


async def test_off_by_default_records_nothing() -> None:
    """Without instrument() a call makes no span (and the client works as before)."""
    made = _Sinks()
    assert not is_instrumented()
    async with _client() as client:
        response = await client.get("/x")
    assert response.status_code == 200
    assert made.finished() == ()


async def test_instrument_is_idempotent(sinks: _Sinks) -> None:
    """Calling instrument() again does not double the spans; uninstrument() twice is harmless."""
    sinks.instrument()
    assert is_instrumented()
    async with _client() as client:
        await client.get("/x")
    assert len(sinks.finished()) == 1
    uninstrument()
    uninstrument()
    assert not is_instrumented()


async def test_new_providers_replace_the_old_ones(sinks: _Sinks) -> None:
    """instrument() with other providers (a reconfigured process) sends spans there from then on."""
    other = _Sinks()
    async with _client() as client:
        await client.get("/x")
        other.instrument()
        await client.get("/y")
    assert len(sinks.finished()) == 1
    assert len(other.finished()) == 1


async def test_an_unknown_method_is_named_http_with_the_original_kept(sinks: _Sinks) -> None:
    """Semconv: a method outside the known set is ``_OTHER``, the span name ``HTTP``."""
    async with _client() as client:
        await client.request("PURGE", "/cache")
    (span,) = sinks.finished()
    assert span.name == "HTTP"
    attributes = dict(span.attributes or {})
    assert attributes["http.request.method"] == "_OTHER"
    assert attributes["http.request.method_original"] == "PURGE"
    assert attributes["server.port"] == 80  # the scheme's default port when the URL names none


async def test_an_exception_message_is_redacted_on_the_span(sinks: _Sinks) -> None:
    """Even with an exporter that does not redact, a secret in an exception message stays out."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError("refused: password=hunter2-secret", request=request)

    async with _client(refuse) as client:
        with pytest.raises(httpx.LocalProtocolError):
            await client.get("/x")
    (span,) = sinks.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "httpx.LocalProtocolError"
    (exception,) = (event for event in span.events if event.name == "exception")
    recorded = dict(exception.attributes or {})
    assert recorded["exception.type"] == "httpx.LocalProtocolError"
    assert "hunter2-secret" not in str(recorded["exception.message"])
    assert "hunter2-secret" not in str(recorded["exception.stacktrace"])
    assert "hunter2-secret" not in str(span.status.description)
    # Not retried: one request, so the span itself is that attempt (no attempt event).
    assert [event.name for event in span.events] == ["exception"]


async def test_a_cancelled_call_ends_its_span(sinks: _Sinks) -> None:
    """A caller's deadline cancelling the call still ends the span, marked as failed."""
    entered = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")  # pragma: no cover

    async with _client(hang) as client:
        task = asyncio.create_task(client.get("/x"))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    (span,) = sinks.finished()
    assert dict(span.attributes or {})["error.type"] == "asyncio.exceptions.CancelledError"
    assert span.status.status_code is StatusCode.ERROR


async def test_the_metric_is_recorded_for_failures(sinks: _Sinks) -> None:
    """http.client.request.duration has a point with error.type for a call that raised."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.UnsupportedProtocol("nope", request=request)

    async with _client(refuse) as client:
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("/x")
    data = sinks.reader.get_metrics_data()
    assert data is not None
    (metric,) = (m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics)
    assert metric.name == "http.client.request.duration"
    assert metric.unit == "s"
    (point,) = metric.data.data_points
    assert dict(point.attributes or {}) == {
        "http.request.method": "GET",
        "server.address": "api.test",
        "server.port": 80,
        "error.type": "httpx.UnsupportedProtocol",
    }


def test_error_type_is_the_public_qualified_class_name() -> None:
    """Private module parts are dropped; builtins stay bare."""
    request = httpx.Request("GET", "http://x")
    assert error_type(httpx.ConnectError("x", request=request)) == "httpx.ConnectError"
    assert error_type(HttpUnavailableError("http://x", 1.0)) == "internal_http.HttpUnavailableError"
    assert error_type(CircuitOpenError("b", 1.0)) == "internal_base.CircuitOpenError"
    assert error_type(TimeoutError()) == "TimeoutError"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/a?x=1", "http://h/a?x=1"),
        ("http://user:pw@h:8080/a", "http://***@h:8080/a"),
        ("https://token-only@h/a", "https://***@h/a"),
        (
            "http://h/a?AWSAccessKeyId=AK1&Signature=S1&X-Goog-Signature=G1&sig=Z1&telemetry_view=2",
            "http://h/a?AWSAccessKeyId=***&Signature=***&X-Goog-Signature=***&sig=***&telemetry_view=2",
        ),
        ("http://h/a?access_token=t1&api_key=k1", "http://h/a?access_token=***&api_key=***"),
    ],
)
def test_span_url_masks_credentials(url: str, expected: str) -> None:
    """url.full: userinfo (user name too) and secret query values masked, the rest as sent."""
    assert span_url(httpx.Request("GET", url)) == expected


async def test_span_url_masks_a_query_key_an_auth_strategy_marked() -> None:
    """A custom query name used by ApiKeyAuth is masked too (registered by the strategy)."""
    auth = ApiKeyAuth("k-secret-9", query_param="tenant_q")
    request = httpx.Request("GET", "http://h/a?tenant_q=k-secret-9&b=1")
    flow = auth.async_auth_flow(request)
    try:
        await flow.__anext__()
        assert "k-secret-9" not in span_url(request)
    finally:
        await flow.aclose()  # an unfinished flow left to the garbage collector warns on 3.13


async def test_a_refused_call_has_no_attempt_events(sinks: _Sinks) -> None:
    """The open breaker refuses before sending: the span carries the error, no attempt event."""
    settings = HttpSettings.model_validate(
        {
            "base_url": "http://api.test",
            "health_check": False,
            "resilience": {
                "retry": {"attempts": 1},
                "breaker": {"failure_threshold": 1, "reset_timeout": 60},
            },
        }
    )

    def fail(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    async with create_client(settings, transport=httpx.MockTransport(fail)) as client:
        await client.get("/x")
        with pytest.raises(HttpUnavailableError):
            await client.get("/x")
    first, refused = sinks.finished()
    assert dict(first.attributes or {})["error.type"] == "500"
    assert [e.name for e in refused.events if e.name == "internal_http.attempt"] == []
    assert dict(refused.attributes or {})["error.type"] == "internal_http.HttpUnavailableError"


def test_a_secret_across_the_cut_is_masked_before_the_cut() -> None:
    """Exception text is cut at 100,000 characters; a secret the cut splits never survives in part."""
    for offset in (-30, -9, -3, 0, 5):
        text = "x" * (100_000 + offset) + " password=cut-secret-value-123456 " + "y" * 50_000
        cut = _redact_cut(text)
        assert len(cut) < 100_100
        assert "cut-secret" not in cut
        assert cut.endswith("characters cut>")
    assert _redact_cut("token=short-secret") == "token=***"
