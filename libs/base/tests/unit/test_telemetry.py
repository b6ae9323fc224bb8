"""Tests for telemetry setup, spans, propagation and metrics."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

from internal_base._telemetry import _require
from internal_base.context import correlation_scope
from internal_base.telemetry import (
    Telemetry,
    TelemetrySettings,
    configure_telemetry,
    counter,
    current_telemetry,
    extract_trace,
    get_meter,
    get_tracer,
    histogram,
    inject_trace,
    span,
)


@pytest.fixture()
def telemetry() -> Telemetry:
    """Telemetry with in-memory exporters."""
    return configure_telemetry(
        service_name="svc", service_version="1.2.3", environment="test", exporter="memory", set_global=False
    )


def finished(telemetry: Telemetry) -> list[str]:
    """Names of the finished spans."""
    assert telemetry.span_exporter is not None
    return [s.name for s in telemetry.span_exporter.get_finished_spans()]


def metric_points(telemetry: Telemetry, name: str) -> list[object]:
    """Data points collected for a metric."""
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    assert data is not None
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_resource_attributes(telemetry: Telemetry) -> None:
    """The resource carries service name, version and environment."""
    attributes = telemetry.tracer_provider.resource.attributes
    assert (
        attributes["service.name"],
        attributes["service.version"],
        attributes["deployment.environment"],
    ) == (
        "svc",
        "1.2.3",
        "test",
    )


def test_current_telemetry(telemetry: Telemetry) -> None:
    """The last configuration is the current one."""
    assert current_telemetry() is telemetry


def test_unknown_exporter_rejected() -> None:
    """An unknown exporter name is rejected."""
    with pytest.raises(ValueError, match="zipkin"):
        configure_telemetry(service_name="x", exporter="zipkin")  # type: ignore[arg-type]


def test_missing_extra_names_it() -> None:
    """A missing optional module raises ImportError naming the extra."""
    with pytest.raises(ImportError, match=r"internal-base\[otlp\]"):
        _require("internal_base_no_such_module", "internal-base[otlp]")


def test_console_exporter_configures() -> None:
    """The console exporter builds providers without in-memory sinks."""
    telemetry = configure_telemetry(service_name="c", exporter="console", set_global=False)
    try:
        assert (telemetry.span_exporter, telemetry.metric_reader) == (None, None)
    finally:
        telemetry.shutdown()


def test_none_exporter_configures() -> None:
    """The none exporter builds providers that export nothing."""
    telemetry = configure_telemetry(service_name="n", set_global=False)
    assert telemetry.tracer_provider.resource.attributes["service.name"] == "n"


def test_span_context_manager_records(telemetry: Telemetry) -> None:
    """A span used as a context manager is exported with its attributes."""
    with span("work", items=3):
        pass
    assert telemetry.span_exporter is not None
    exported = telemetry.span_exporter.get_finished_spans()[0]
    assert (exported.name, exported.attributes) == ("work", {"items": 3})


def test_span_adds_correlation_id(telemetry: Telemetry) -> None:
    """Spans carry the correlation ID as an attribute."""
    with correlation_scope("cid-s"), span("work"):
        pass
    assert telemetry.span_exporter is not None
    assert telemetry.span_exporter.get_finished_spans()[0].attributes == {"commons.correlation_id": "cid-s"}


async def test_span_async_context_manager(telemetry: Telemetry) -> None:
    """``async with span`` works."""
    async with span("async-work"):
        pass
    assert finished(telemetry) == ["async-work"]


def test_span_decorator_sync(telemetry: Telemetry) -> None:
    """A decorated sync function runs in a span each call."""

    @span("sync-fn")
    def double(x: int) -> int:
        return x * 2

    assert (double(2), double(3), finished(telemetry)) == (4, 6, ["sync-fn", "sync-fn"])


async def test_span_decorator_async(telemetry: Telemetry) -> None:
    """A decorated coroutine function runs in a span each call."""

    @span("async-fn")
    async def triple(x: int) -> int:
        return x * 3

    assert (await triple(2), finished(telemetry)) == (6, ["async-fn"])


def test_span_records_exception(telemetry: Telemetry) -> None:
    """An exception escaping a span sets ERROR status and an exception event."""
    with pytest.raises(RuntimeError), span("failing"):
        raise RuntimeError("boom")
    assert telemetry.span_exporter is not None
    exported = telemetry.span_exporter.get_finished_spans()[0]
    assert (exported.status.status_code, exported.events[0].name) == (StatusCode.ERROR, "exception")


def test_nested_spans_share_trace(telemetry: Telemetry) -> None:
    """A span inside another is its child."""
    with span("parent") as parent, span("child") as child:
        assert child.get_span_context().trace_id == parent.get_span_context().trace_id
    assert finished(telemetry) == ["child", "parent"]


def test_inject_extract_round_trip(telemetry: Telemetry) -> None:
    """A carrier injected inside a span extracts to the same span context."""
    carrier: dict[str, str] = {}
    with span("producer") as producer:
        inject_trace(carrier)
    extracted = trace.get_current_span(extract_trace(carrier)).get_span_context()
    assert (extracted.trace_id, extracted.span_id) == (
        producer.get_span_context().trace_id,
        producer.get_span_context().span_id,
    )


def test_extract_is_case_insensitive(telemetry: Telemetry) -> None:
    """``Traceparent`` with any capitalisation is found."""
    carrier = {"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    context = trace.get_current_span(extract_trace(carrier)).get_span_context()
    assert format(context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"


def test_extract_empty_carrier_is_invalid() -> None:
    """An empty carrier yields no valid span context."""
    assert trace.get_current_span(extract_trace({})).get_span_context().is_valid is False


def test_tracer_is_cached(telemetry: Telemetry) -> None:
    """The same tracer is returned for the same name."""
    assert get_tracer("a") is get_tracer("a")


def test_counter_records(telemetry: Telemetry) -> None:
    """Counters add up and keep attributes."""
    counter("t.requests").add(2, {"route": "/x"})
    counter("t.requests").add(3, {"route": "/x"})
    points = metric_points(telemetry, "t.requests")
    assert [(p.value, dict(p.attributes or {})) for p in points] == [(5, {"route": "/x"})]  # type: ignore[attr-defined]


def test_histogram_records(telemetry: Telemetry) -> None:
    """Histograms record counts and sums."""
    histogram("t.latency").record(0.5)
    histogram("t.latency").record(1.5)
    point = metric_points(telemetry, "t.latency")[0]
    assert (point.count, point.sum) == (2, 2.0)  # type: ignore[attr-defined]


def test_get_meter_uses_configured_provider(telemetry: Telemetry) -> None:
    """Instruments from ``get_meter`` reach the configured reader."""
    get_meter("custom").create_counter("t.custom").add(1)
    assert len(metric_points(telemetry, "t.custom")) == 1


def test_settings_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    """TelemetrySettings choose the exporter from the environment."""
    monkeypatch.setenv("COMMONS_TELEMETRY_SERVICE_NAME", "from-env")
    monkeypatch.setenv("COMMONS_TELEMETRY_EXPORTER", "memory")
    telemetry = TelemetrySettings.load().configure(set_global=False)
    assert (
        telemetry.tracer_provider.resource.attributes["service.name"],
        telemetry.span_exporter is not None,
    ) == (
        "from-env",
        True,
    )


def test_global_providers_installed_once() -> None:
    """The first global configuration installs the global tracer provider."""
    configure_telemetry(service_name="global", exporter="memory")
    configure_telemetry(service_name="again", exporter="memory")
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
