"""OpenTelemetry for every engine a :class:`Database` creates: contrib statement spans, our pool metrics.

Spans come from ``opentelemetry-instrumentation-sqlalchemy`` (its ``EngineTracer``, attached to the
``sync_engine`` of each async request engine, existing and future). Metrics are ours, read from the
pools at collection time (nothing on the hot path) and timed around each statement:

- ``db.client.connection.count`` (``{connection}``, up-down counter observed from the pools):
  attributes ``db.client.connection.state`` = ``idle``/``used`` and ``db.client.connection.pool.name``
  (``driver://host:port/database``, no user or password).
- ``db.client.operation.duration`` (``s``, histogram): ``db.system.name``, ``db.operation.name``
  (the first word of the statement), ``server.address``/``server.port`` and ``error.type`` on failure.

Health and lag probes run on their own engines, which are not traced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from weakref import ReferenceType, WeakSet, ref

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as _CONTRIB_VERSION
from opentelemetry.metrics import (
    CallbackOptions,
    Histogram,
    Meter,
    MeterProvider,
    NoOpUpDownCounter,
    Observation,
)
from opentelemetry.trace import Status, StatusCode, TracerProvider
from sqlalchemy import event
from sqlalchemy.engine import Engine

from internal_base.telemetry import current_telemetry
from internal_rdbms._instrumentation import registered_engines, set_engine_hook

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_SCOPE: Final = "internal_rdbms"
_CONTRIB_SCOPE: Final = "opentelemetry.instrumentation.sqlalchemy"
_START: Final = "_internal_rdbms_started"
_SYSTEMS: Final = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mariadb", "sqlite": "sqlite"}


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    on: bool = False
    generation: int = 0
    tracer: trace.Tracer | None = None
    duration: Histogram | None = None
    meter: Meter | None = None
    # Instruments per meter: an SDK meter keeps the first instrument of a name (and its callback)
    # and ignores a second one, so instrument() after uninstrument() reuses them.
    histograms: dict[int, tuple[Meter, Histogram]] = field(default_factory=dict)
    # (weak reference to the engine, identifier, function) of every listener we added.
    listeners: list[tuple[ReferenceType[Engine], str, Any]] = field(default_factory=list)
    engines: WeakSet[Engine] = field(default_factory=WeakSet)


_STATE: Final = _State()


def _pool_name(engine: Engine) -> str:
    url = engine.url
    return f"{url.drivername}://{url.host or ''}:{url.port or ''}/{url.database or ''}"


def _server_attributes(engine: Engine) -> dict[str, Any]:
    url = engine.url
    system = _SYSTEMS.get(engine.dialect.name, engine.dialect.name)
    attributes: dict[str, Any] = {"db.system.name": system}
    if url.host:
        attributes["server.address"] = url.host
    if url.port:
        attributes["server.port"] = url.port
    return attributes


def _operation(statement: object) -> str | None:
    if not isinstance(statement, str):
        return None
    words = statement.lstrip().split(None, 1)
    return words[0].upper() if words else None


def _duration_listeners(engine: Engine, histogram: Histogram) -> list[tuple[str, Any]]:
    base = _server_attributes(engine)

    def before(_conn: Any, _cursor: Any, _statement: Any, _params: Any, context: Any, _many: bool) -> None:
        if context is not None:
            setattr(context, _START, time.perf_counter())

    def record(context: Any, statement: object, error: BaseException | None) -> None:
        started = getattr(context, _START, None)
        if started is None:
            return
        setattr(context, _START, None)
        attributes = dict(base)
        operation = _operation(statement)
        if operation is not None:
            attributes["db.operation.name"] = operation
        if error is not None:
            attributes["error.type"] = type(error).__qualname__
        histogram.record(time.perf_counter() - started, attributes)

    def after(_conn: Any, _cursor: Any, statement: Any, _params: Any, context: Any, _many: bool) -> None:
        record(context, statement, None)

    def failed(exception_context: Any) -> None:
        context = exception_context.execution_context
        if context is not None:
            record(context, exception_context.statement, exception_context.original_exception)

    return [("before_cursor_execute", before), ("after_cursor_execute", after), ("handle_error", failed)]


def _attach(engine: Engine) -> None:
    """Spans (contrib ``EngineTracer``) and the duration histogram on one engine, once."""
    with _STATE.lock:
        if not _STATE.on or engine in _STATE.engines or _STATE.tracer is None:
            return
        _STATE.engines.add(engine)
        # Forget the listeners of engines that are gone (a process creating many databases).
        _STATE.listeners = [entry for entry in _STATE.listeners if entry[0]() is not None]
        registry: list[Any] = getattr(EngineTracer, "_remove_event_listener_params", [])
        before = len(registry)
        # The contrib's own pool counter would start at zero for pools already holding connections
        # (negative idle counts); db.client.connection.count is observed from the pools instead.
        EngineTracer(_STATE.tracer, engine, NoOpUpDownCounter("unused"))  # type: ignore[no-untyped-call]
        for entry in registry[before:]:
            if entry[1] == "handle_error":
                # The contrib's error listener puts the driver's message in the span's status,
                # bound values included ("Duplicate entry 'x'", "invalid input ... 'x'"): ours instead.
                event.remove(engine, "handle_error", entry[2])
            else:
                _STATE.listeners.append(entry)
        del registry[before:]
        event.listen(engine, "handle_error", _end_error_span)
        _STATE.listeners.append((ref(engine), "handle_error", _end_error_span))
        if _STATE.duration is not None:
            for identifier, function in _duration_listeners(engine, _STATE.duration):
                event.listen(engine, identifier, function)
                _STATE.listeners.append((ref(engine), identifier, function))


def _error_code(error: BaseException | None) -> str | None:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if code is None:
        args = getattr(error, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
    return None if code is None else str(code)


def _end_error_span(exception_context: Any) -> None:
    """End the statement's span with the error's type and code only (never its message)."""
    context = exception_context.execution_context
    span = getattr(context, "_otel_span", None) if context is not None else None
    if span is None:
        return
    context._otel_span = None  # the contrib's listener finds no span to end
    error = exception_context.original_exception
    code = _error_code(error)
    description = type(error).__qualname__ + (f" (code {code})" if code else "")
    if span.is_recording():
        span.set_attribute("error.type", type(error).__qualname__)
        span.set_status(Status(StatusCode.ERROR, description))
    span.end()


def _observe_pools(meter: Meter) -> Any:
    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        if not _STATE.on or _STATE.meter is not meter:
            return []
        totals: dict[tuple[str, str], int] = {}
        for engine in registered_engines():
            pool = engine.pool
            checkedout, checkedin = getattr(pool, "checkedout", None), getattr(pool, "checkedin", None)
            if not (callable(checkedout) and callable(checkedin)):
                continue  # NullPool/StaticPool: no pool to report
            name = _pool_name(engine)
            for state, count in (("used", checkedout()), ("idle", checkedin())):
                totals[(name, state)] = totals.get((name, state), 0) + int(count)
        return [
            Observation(count, {"db.client.connection.state": state, "db.client.connection.pool.name": name})
            for (name, state), count in totals.items()
        ]

    return callback


def instrument(
    *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Turn on spans and metrics for every engine of every :class:`Database`, existing and future.

    Idempotent. Providers: the arguments, else those of
    :func:`internal_base.telemetry.configure_telemetry` (the latest call), else OpenTelemetry's
    globals. Spans carry the statement with its placeholders, never bound values (and are
    redacted again on export by ``internal_base``); the URL's password is never recorded.

    Args:
        tracer_provider: Tracer provider to use instead of the configured one.
        meter_provider: Meter provider to use instead of the configured one.
    """
    configured = current_telemetry()
    if tracer_provider is None and configured is not None:
        tracer_provider = configured.tracer_provider
    if meter_provider is None and configured is not None:
        meter_provider = configured.meter_provider
    with _STATE.lock:
        if _STATE.on:
            return
        _STATE.on = True
        _STATE.generation += 1
        _STATE.tracer = trace.get_tracer(_CONTRIB_SCOPE, _CONTRIB_VERSION, tracer_provider)
        meter: Meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        _STATE.meter = meter
        known = _STATE.histograms.get(id(meter))
        if known is not None and known[0] is meter:
            _STATE.duration = known[1]
        else:
            _STATE.duration = meter.create_histogram(
                "db.client.operation.duration",
                unit="s",
                description="Duration of database client operations.",
            )
            meter.create_observable_up_down_counter(
                "db.client.connection.count",
                callbacks=[_observe_pools(meter)],
                unit="{connection}",
                description="Connections of each pool, by state (idle or used).",
            )
            _STATE.histograms[id(meter)] = (meter, _STATE.duration)
    for engine in registered_engines():
        _attach(engine)
    set_engine_hook(_attach)


def uninstrument() -> None:
    """Remove every listener :func:`instrument` added; metrics stop being reported (idempotent)."""
    set_engine_hook(None)
    with _STATE.lock:
        if not _STATE.on:
            return
        _STATE.on = False
        listeners, _STATE.listeners = _STATE.listeners, []
        _STATE.engines.clear()
        _STATE.tracer = _STATE.duration = _STATE.meter = None
    for weak_target, identifier, function in listeners:
        target = weak_target()
        if target is not None and event.contains(target, identifier, function):
            event.remove(target, identifier, function)


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return _STATE.on
