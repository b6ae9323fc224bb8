"""The internal_aws.telemetry switch and its helpers (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracer, SpanKind

from internal_aws import AwsConfigurationError, InvalidRequestError
from internal_aws import _telemetry as state
from internal_aws.telemetry import instrument, is_instrumented, uninstrument


@pytest.fixture(autouse=True)
def _off_afterwards() -> Iterator[None]:
    """Every test leaves internal_aws uninstrumented."""
    yield
    uninstrument()


def test_off_by_default_and_after_uninstrument() -> None:
    """Off: the flag is False, the tracer a no-op and no instrument exists."""
    assert not is_instrumented()
    instrument()
    assert is_instrumented()
    uninstrument()
    assert not is_instrumented()
    assert isinstance(state.STATE.tracer, NoOpTracer)
    assert state.STATE.consumed is None
    assert state.STATE.process_duration is None


def test_explicit_providers_receive_the_spans_and_metrics() -> None:
    """instrument(tracer_provider=, meter_provider=) uses exactly those providers."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)  # idempotent
    with state.producer_span("https://sqs.eu-west-1.amazonaws.com/1/jobs", 3) as span:
        assert span is not None
    state.record_sent("https://sqs.eu-west-1.amazonaws.com/1/jobs", 2, {"Throttling": 1})
    [finished] = exporter.get_finished_spans()
    assert finished.name == "send jobs"
    assert finished.kind == SpanKind.PRODUCER
    assert finished.instrumentation_scope is not None
    assert finished.instrumentation_scope.name == "internal_aws"
    assert dict(finished.attributes or {})["messaging.batch.message_count"] == 3
    data = reader.get_metrics_data()
    assert data is not None
    [metric] = [m for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics]
    assert metric.name == "messaging.client.sent.messages"
    points: Any = metric.data.data_points
    values = {dict(p.attributes or {}).get("error.type"): p.value for p in points}
    assert values == {None: 2, "Throttling": 1}


def test_producer_span_is_nothing_when_off() -> None:
    """Uninstrumented, producer_span yields None and records nothing."""
    with state.producer_span("https://x/1/q", 1) as span:
        assert span is None
    state.record_sent("https://x/1/q", 1, {})


def test_helpers() -> None:
    """Queue names, service ids, error types and lag."""
    assert state.queue_name("https://sqs.eu-west-1.amazonaws.com/123/orders.fifo") == "orders.fifo"
    assert state.queue_name("http://127.0.0.1:5000/123/q/") == "q"
    assert state.rpc_service("dynamodb") == "DynamoDB"
    assert state.rpc_service("kinesis") == "KINESIS"
    assert state.error_type(InvalidRequestError("bad", code="ValidationException")) == "ValidationException"
    assert state.error_type(AwsConfigurationError("bad")) == "internal_aws._errors.AwsConfigurationError"
    assert state.error_type(RuntimeError("x")) == "RuntimeError"
    assert state.lag_seconds("1000", now=3.5) == 2.5
    assert state.lag_seconds("9999999999999", now=1.0) == 0.0
    assert state.lag_seconds(None) is None
    assert state.lag_seconds("soon") is None


def test_a_queue_urls_query_and_userinfo_never_reach_names_or_attributes() -> None:
    """Span names and metric attributes take the queue name from the path only (no signature in them)."""
    url = "https://user:pw@sqs.eu-west-1.amazonaws.com/123/orders?X-Amz-Signature=abc123#frag"
    assert state.queue_name(url) == "orders"
    assert state.messaging_attributes(url, "send")["messaging.destination.name"] == "orders"
