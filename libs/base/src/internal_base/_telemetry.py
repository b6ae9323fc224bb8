"""Explicit OpenTelemetry setup, span helpers and cached metric instruments.

Nothing happens at import. ``configure_telemetry`` builds tracer and meter providers with a
resource (service name, version, environment) and the exporter chosen by settings:
``none``, ``console`` (one compact JSON line per span, to stderr or a chosen stream),
``memory`` (the SDK's in-memory exporter/reader, for tests) or ``otlp`` (optional extra
``internal-base[otlp]``, imported lazily).

OpenTelemetry lets a process set its *global* providers only once. The first call with
``set_global=True`` installs them; later calls (tests reconfigure freely) replace the
providers that ``get_tracer``/``get_meter`` and every commons library use.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import IO, Any, ClassVar, Final, Literal, ParamSpec, TypeVar, cast

from opentelemetry import metrics, trace
from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    InMemoryMetricReader,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, Tracer
from opentelemetry.util.types import AttributeValue
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from internal_base._context import get_correlation_id, is_async_callable
from internal_base._settings import LibrarySettings
from internal_base._span_redaction import RedactingSpanExporter

Exporter = Literal["none", "console", "memory", "otlp"]
_P = ParamSpec("_P")
_T = TypeVar("_T")
_OTLP_EXTRA: Final = "internal-base[otlp]"
_DEFAULT_SCOPE: Final = "internal_base"
# The spans entered with ``with``/``async with`` and not yet exited in this context (task or
# thread), as (span instance, its OpenTelemetry manager): one instance shared by concurrent
# tasks keeps each task's span apart. One variable for all instances, so contexts do not grow.
_OPEN_SPANS: Final[contextvars.ContextVar[tuple[tuple[object, Any], ...]]] = contextvars.ContextVar(
    "internal_base_open_spans", default=()
)


@dataclass
class Telemetry:
    """The providers built by ``configure_telemetry`` and, for ``memory``, their in-memory sinks.

    Attributes:
        tracer_provider: The SDK tracer provider.
        meter_provider: The SDK meter provider.
        span_exporter: The in-memory span exporter when ``exporter="memory"``, else None.
        metric_reader: The in-memory metric reader when ``exporter="memory"``, else None.
    """

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    span_exporter: InMemorySpanExporter | None = None
    metric_reader: InMemoryMetricReader | None = None

    def shutdown(self) -> None:
        """Flush and shut down both providers."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    current: Telemetry | None = None
    global_set: bool = False
    instruments: dict[tuple[int, str, str], Any] = field(default_factory=dict)
    tracers: dict[tuple[int, str], Tracer] = field(default_factory=dict)


_STATE: Final = _State()


def _require(module: str, extra: str) -> ModuleType:
    """Import an optional module, or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is not installed; install the optional extra {extra!r}") from exc


def _one_line_span(span: ReadableSpan) -> str:
    """A span as one compact JSON line (the SDK's default is indented, many lines per span)."""
    return str(span.to_json(indent=None)) + "\n"


def _one_line_metrics(data: MetricsData) -> str:
    """Metrics data as one compact JSON line."""
    return data.to_json(indent=None) + "\n"


def _span_exporter(exporter: Exporter, endpoint: str | None, stream: IO[str]) -> SpanExporter | None:
    if exporter == "console":
        return ConsoleSpanExporter(out=stream, formatter=_one_line_span)
    if exporter == "memory":
        return InMemorySpanExporter()
    if exporter == "otlp":
        module = _require("opentelemetry.exporter.otlp.proto.http.trace_exporter", _OTLP_EXTRA)
        kwargs = {} if endpoint is None else {"endpoint": f"{endpoint.rstrip('/')}/v1/traces"}
        return cast(SpanExporter, module.OTLPSpanExporter(**kwargs))
    return None


def _metric_reader(
    exporter: Exporter, endpoint: str | None, interval: float, stream: IO[str]
) -> MetricReader | None:
    if exporter == "memory":
        return InMemoryMetricReader()
    if exporter == "console":
        return PeriodicExportingMetricReader(
            ConsoleMetricExporter(out=stream, formatter=_one_line_metrics),
            export_interval_millis=interval * 1000,
        )
    if exporter == "otlp":
        module = _require("opentelemetry.exporter.otlp.proto.http.metric_exporter", _OTLP_EXTRA)
        kwargs = {} if endpoint is None else {"endpoint": f"{endpoint.rstrip('/')}/v1/metrics"}
        return PeriodicExportingMetricReader(
            module.OTLPMetricExporter(**kwargs), export_interval_millis=interval * 1000
        )
    return None


def configure_telemetry(
    *,
    service_name: str,
    service_version: str | None = None,
    environment: str | None = None,
    exporter: Exporter = "none",
    otlp_endpoint: str | None = None,
    metric_interval: float = 60.0,
    set_global: bool = True,
    console_stream: IO[str] | None = None,
) -> Telemetry:
    """Build tracer and meter providers with a resource and the chosen exporter.

    Args:
        service_name: ``service.name`` resource attribute.
        service_version: ``service.version`` resource attribute.
        environment: ``deployment.environment`` resource attribute.
        exporter: ``none``, ``console``, ``memory`` (tests) or ``otlp`` (needs ``internal-base[otlp]``).
        otlp_endpoint: Base URL of the OTLP/HTTP collector (default: the exporter's own default).
        metric_interval: Seconds between periodic metric exports (console and otlp).
        set_global: Also install the providers as OpenTelemetry's globals (first call only).
        console_stream: Where ``console`` writes spans and metrics (default ``sys.stderr``, read
            at call time): one compact JSON line per span or metrics export, each written whole,
            so they never break into the lines of logs sharing the stream.

    Returns:
        The configured ``Telemetry``; ``span_exporter``/``metric_reader`` are set for ``memory``.

    Raises:
        ImportError: ``exporter="otlp"`` without the optional extra installed; names the extra.
        ValueError: Unknown exporter name.
    """
    if exporter not in ("none", "console", "memory", "otlp"):
        raise ValueError(f"unknown telemetry exporter {exporter!r}; use none, console, memory or otlp")
    attributes: dict[str, str] = {"service.name": service_name}
    if service_version is not None:
        attributes["service.version"] = service_version
    if environment is not None:
        attributes["deployment.environment"] = environment
    resource = Resource.create(attributes)
    stream = console_stream if console_stream is not None else sys.stderr
    span_exporter = _span_exporter(exporter, otlp_endpoint, stream)
    reader = _metric_reader(exporter, otlp_endpoint, metric_interval, stream)

    tracer_provider = TracerProvider(resource=resource)
    if span_exporter is not None:
        redacting = RedactingSpanExporter(span_exporter)  # spans leave the process redacted
        processor: SpanProcessor = (
            BatchSpanProcessor(redacting) if exporter == "otlp" else SimpleSpanProcessor(redacting)
        )
        tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(resource=resource, metric_readers=[] if reader is None else [reader])
    result = Telemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        span_exporter=span_exporter if isinstance(span_exporter, InMemorySpanExporter) else None,
        metric_reader=reader if isinstance(reader, InMemoryMetricReader) else None,
    )
    with _STATE.lock:
        _STATE.current = result
        _STATE.instruments.clear()
        _STATE.tracers.clear()
        install_global = set_global and not _STATE.global_set
        _STATE.global_set = _STATE.global_set or install_global
    if install_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
    return result


def current_telemetry() -> Telemetry | None:
    """Return the telemetry configured last, or None before ``configure_telemetry``."""
    return _STATE.current


def get_tracer(name: str = _DEFAULT_SCOPE) -> Tracer:
    """Return a tracer from the configured provider (OpenTelemetry's global one before setup)."""
    current = _STATE.current
    if current is None:
        return trace.get_tracer(name)
    key = (id(current.tracer_provider), name)
    tracer = _STATE.tracers.get(key)
    if tracer is None:
        tracer = _STATE.tracers.setdefault(key, current.tracer_provider.get_tracer(name))
    return tracer


def get_meter(name: str = _DEFAULT_SCOPE) -> Meter:
    """Return a meter from the configured provider (OpenTelemetry's global one before setup)."""
    current = _STATE.current
    if current is None:
        return metrics.get_meter(name)
    return current.meter_provider.get_meter(name)


def _instrument(kind: str, name: str, unit: str, description: str, scope: str) -> Any:
    current = _STATE.current
    key = (0 if current is None else id(current.meter_provider), kind, name)
    found = _STATE.instruments.get(key)
    if found is None:
        meter = get_meter(scope)
        create = meter.create_counter if kind == "counter" else meter.create_histogram
        found = _STATE.instruments.setdefault(key, create(name, unit=unit, description=description))
    return found


def counter(name: str, *, unit: str = "1", description: str = "", scope: str = _DEFAULT_SCOPE) -> Counter:
    """Return a (cached) monotonic counter, e.g. ``counter("commons.retry.attempts").add(1)``."""
    return cast(Counter, _instrument("counter", name, unit, description, scope))


def histogram(name: str, *, unit: str = "s", description: str = "", scope: str = _DEFAULT_SCOPE) -> Histogram:
    """Return a (cached) histogram, e.g. ``histogram("commons.cache.latency").record(0.002)``."""
    return cast(Histogram, _instrument("histogram", name, unit, description, scope))


class span:
    """A span as decorator (sync or async function) or context manager (``with`` / ``async with``).

    The span becomes current, carries ``attrs`` plus ``commons.correlation_id`` when one is set,
    and records an exception (status ERROR) that escapes it. One instance may be shared (a
    module-level ``@span("x")``, or ``async with`` on one instance in concurrent tasks): each
    task or thread enters and exits its own span.

    Args:
        name: Span name.
        **attrs: Span attributes.
    """

    def __init__(self, name: str, **attrs: AttributeValue) -> None:
        self.name = name
        self.attrs = attrs

    def __enter__(self) -> Span:
        attributes: dict[str, AttributeValue] = dict(self.attrs)
        correlation_id = get_correlation_id()
        if correlation_id is not None:
            attributes["commons.correlation_id"] = correlation_id
        manager = get_tracer().start_as_current_span(self.name, attributes=attributes)
        entered = manager.__enter__()
        _OPEN_SPANS.set((*_OPEN_SPANS.get(), (self, manager)))
        return entered

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        open_spans = _OPEN_SPANS.get()
        for index in range(len(open_spans) - 1, -1, -1):  # this context's innermost entry of self
            owner, manager = open_spans[index]
            if owner is self:
                _OPEN_SPANS.set(open_spans[:index] + open_spans[index + 1 :])
                manager.__exit__(exc_type, exc, tb)
                return
        raise RuntimeError(f"span {self.name!r} exited in a task or thread that did not enter it")

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[_P, _T]) -> Callable[_P, _T]:
        """Decorate ``fn`` so every call runs inside a fresh span (awaited, for async callables)."""
        if is_async_callable(fn):
            async_fn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with span(self.name, **self.attrs):
                    return await async_fn(*args, **kwargs)

            return cast(Callable[_P, _T], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            with span(self.name, **self.attrs):
                return fn(*args, **kwargs)

        return wrapper


class TelemetrySettings(LibrarySettings):
    """Telemetry settings (env prefix ``COMMONS_TELEMETRY_``, YAML section ``telemetry``)."""

    model_config = SettingsConfigDict(env_prefix="COMMONS_TELEMETRY_")
    yaml_section: ClassVar[str] = "telemetry"

    service_name: str = "unknown-service"
    service_version: str | None = None
    environment: str | None = None
    exporter: Exporter = "none"
    otlp_endpoint: str | None = None
    metric_interval: float = Field(default=60.0, gt=0)

    def configure(self, *, set_global: bool = True, console_stream: IO[str] | None = None) -> Telemetry:
        """Call ``configure_telemetry`` with these settings (and the stream of the console exporter)."""
        return configure_telemetry(
            service_name=self.service_name,
            service_version=self.service_version,
            environment=self.environment,
            exporter=self.exporter,
            otlp_endpoint=self.otlp_endpoint,
            metric_interval=self.metric_interval,
            set_global=set_global,
            console_stream=console_stream,
        )
