"""Spans and metrics for Redis: OpenTelemetry's redis instrumentor plus the cache's own metrics.

* **Spans**: ``opentelemetry-instrumentation-redis`` (one CLIENT span per command or pipeline, its
  statement sanitized to ``GET ?``), with the stable database semantic conventions
  (``db.system.name``, ``db.query.text``, ``db.namespace``; see :func:`_opt_into_stable_db`) and a
  request hook that adds ``db.system.name`` where the instrumentor leaves it out (cluster clients).
* **Metrics**, from a meter of the configured provider: ``db.client.operation.duration`` (s, per
  command or pipeline; ``db.operation.name``, ``error.type`` on failure) recorded by a wrapper around
  redis-py's ``execute_command``/pipeline ``execute`` that exists only while instrumented, and
  ``cache.hits``/``cache.misses``: asynchronous (observable) counters read at collection time from
  integers that :class:`CacheClient` ``get``/``get_value``/``get_or_set`` increment behind one boolean
  test (:data:`METRICS`) -- an SDK ``Counter.add`` per lookup would cost more than the lookup's
  share of a round trip.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

import redis.asyncio.client
import redis.asyncio.cluster
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.metrics import CallbackOptions, Histogram, MeterProvider, Observation
from opentelemetry.trace import Span, TracerProvider

from internal_base.logging import get_logger
from internal_base.telemetry import current_telemetry

__all__ = ["METRICS", "count_lookup", "instrument", "is_instrumented", "uninstrument"]

_log = get_logger("internal_cache.telemetry")

#: Bucket boundaries the semantic conventions recommend for ``db.client.operation.duration``.
DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
_SYSTEM: Final = {"db.system.name": "redis"}
_LOOKUP_ATTRS: Final = {
    op: {"db.system.name": "redis", "cache.operation": op} for op in ("get", "get_or_set")
}
_PIPELINES: Final = (redis.asyncio.client.Pipeline, redis.asyncio.cluster.ClusterPipeline)
# (class, method) of every redis-py method wrapped for the duration histogram.
_TIMED: Final[tuple[tuple[type, str], ...]] = (
    (redis.asyncio.client.Redis, "execute_command"),
    (redis.asyncio.client.Pipeline, "execute"),
    (redis.asyncio.cluster.RedisCluster, "execute_command"),
    (redis.asyncio.cluster.ClusterPipeline, "execute"),
)


class _Metrics:
    """The cache's instruments; ``on`` is the one flag the hot path tests.

    ``lookups[(hit, operation)]`` counts lookups since :func:`instrument`; the observable counters
    report them.
    """

    __slots__ = ("duration", "lookups", "on")

    def __init__(self) -> None:
        self.on = False
        self.lookups: dict[tuple[bool, str], int] = {}
        self.duration: Histogram | None = None


#: Read by :class:`CacheClient` on every lookup (``if METRICS.on``); nothing else when off.
METRICS: Final = _Metrics()


class _State:
    lock = threading.Lock()
    providers: tuple[TracerProvider, MeterProvider] | None = None
    owns_spans = False
    #: (class, method) -> (the attribute it had, our wrapper put in its place)
    wrapped: dict[tuple[type, str], tuple[Any, Any]] = {}  # noqa: RUF012 - process-wide state


def _wrap(owner: type, name: str) -> None:
    """Put a timing wrapper around ``owner.name`` (a plain function or another instrumentor's wrapper)."""
    original = owner.__dict__[name]

    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Timed inline (no helper coroutine): one frame less on every command.
        call = original.__get__(self, owner)
        histogram = METRICS.duration
        if histogram is None:
            return await call(*args, **kwargs)
        started = time.perf_counter()
        try:
            result = await call(*args, **kwargs)
        except BaseException as exc:
            _record_error(histogram, time.perf_counter() - started, self, args, exc)
            raise
        histogram.record(time.perf_counter() - started, _operation_attrs(self, args))
        return result

    timed.__wrapped__ = original  # type: ignore[attr-defined]
    _State.wrapped[(owner, name)] = (original, timed)
    setattr(owner, name, timed)


def _unwrap(owner: type, name: str) -> None:
    original, timed = _State.wrapped.pop((owner, name))
    if owner.__dict__.get(name) is timed:
        setattr(owner, name, original)
    else:  # wrapped again by someone else since: leave theirs; ours passes calls through now
        _log.warning("%s.%s was wrapped after internal_cache.telemetry; left in place", owner.__name__, name)


def count_lookup(hit: bool, operation: str) -> None:
    """Count one cache lookup as a hit or a miss (only called while ``METRICS.on``)."""
    lookups = METRICS.lookups
    key = (hit, operation)
    lookups[key] = lookups.get(key, 0) + 1


def _observe(
    hit: bool, lookups: dict[tuple[bool, str], int]
) -> Callable[[CallbackOptions], list[Observation]]:
    """A callback reporting ``lookups`` (the counts of one instrument() call: a later one starts anew)."""

    def observe(options: CallbackOptions) -> list[Observation]:
        return [
            Observation(count, _LOOKUP_ATTRS[operation])
            for (was_hit, operation), count in list(lookups.items())
            if was_hit is hit
        ]

    return observe


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return METRICS.on


def _providers() -> tuple[TracerProvider, MeterProvider]:
    configured = current_telemetry()
    if configured is not None:
        return configured.tracer_provider, configured.meter_provider
    return trace.get_tracer_provider(), metrics.get_meter_provider()


def _opt_into_stable_db() -> None:
    """Make the redis instrumentor emit the stable database conventions (``db.system.name`` ...).

    What ``OTEL_SEMCONV_STABILITY_OPT_IN=database`` does, for the database signal only, unless that
    variable already chose ``database`` or ``database/dup``. The switch is process-wide and read by
    instrumentors when they are turned on.
    """
    try:
        from opentelemetry.instrumentation._semconv import (
            _OpenTelemetrySemanticConventionStability as Stability,
        )
        from opentelemetry.instrumentation._semconv import (
            _OpenTelemetryStabilitySignalType as Signal,
        )
        from opentelemetry.instrumentation._semconv import _StabilityMode as Mode

        Stability._initialize()  # type: ignore[no-untyped-call]
        mapping = Stability._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING
        if mapping.get(Signal.DATABASE, Mode.DEFAULT) == Mode.DEFAULT:
            mapping[Signal.DATABASE] = Mode.DATABASE
    except (ImportError, AttributeError):  # pragma: no cover - a newer instrumentation package
        _log.warning("could not opt the redis instrumentor into the stable database conventions")


def _connection_attrs(instance: Any) -> dict[str, Any]:
    """``db.system.name`` and, for one server, ``server.address``/``server.port`` of a client."""
    pool = getattr(instance, "connection_pool", None)
    kwargs: Mapping[str, Any] = getattr(pool, "connection_kwargs", None) or {}
    if "path" in kwargs:
        return {**_SYSTEM, "server.address": str(kwargs["path"])}
    host = kwargs.get("host")
    if host is None:  # a cluster client (the node depends on the key) or a sentinel pool
        return dict(_SYSTEM)
    return {**_SYSTEM, "server.address": str(host), "server.port": int(kwargs.get("port", 6379))}


# Attribute dicts per client (a weak key: a client that goes away takes its entry along):
# (connection attributes, {operation name: duration attributes}).
_ATTRS: Final[weakref.WeakKeyDictionary[Any, tuple[dict[str, Any], dict[str, dict[str, Any]]]]] = (
    weakref.WeakKeyDictionary()
)


def _attrs_of(instance: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    try:
        found = _ATTRS.get(instance)
    except TypeError:  # not weakly referenceable (a ClusterPipeline has __slots__): no cache
        return _connection_attrs(instance), {}
    if found is None:
        found = _ATTRS[instance] = (_connection_attrs(instance), {})
    return found


def _request_hook(user_hook: Callable[..., None] | None) -> Callable[..., None]:
    def hook(span: Span, instance: Any, args: Any, kwargs: Any) -> None:
        # The instrumentor describes a client with a connection pool itself (db.system.name, and
        # the peer as net.peer.name/net.peer.port, or server.address/server.port under
        # OTEL_SEMCONV_STABILITY_OPT_IN=http); a cluster client it leaves bare. Every attribute
        # costs at export (redaction), so only the missing one is added.
        if not hasattr(instance, "connection_pool") and span.is_recording():
            span.set_attributes(_SYSTEM)
        if user_hook is not None:
            user_hook(span, instance, args, kwargs)

    return hook


def _record_error(
    histogram: Histogram, elapsed: float, instance: Any, args: tuple[Any, ...], exc: BaseException
) -> None:
    attrs = dict(_operation_attrs(instance, args))
    attrs["error.type"] = type(exc).__qualname__
    histogram.record(elapsed, attrs)


def _operation_attrs(instance: Any, args: tuple[Any, ...]) -> dict[str, Any]:
    connection, by_operation = _attrs_of(instance)
    # A Pipeline is also a Redis: test it first. A pipeline is a batch of commands.
    operation = "BATCH" if isinstance(instance, _PIPELINES) else str(args[0]).upper() if args else ""
    attrs = by_operation.get(operation)
    if attrs is None:
        if len(by_operation) >= 256:  # arbitrary command names (raw calls): bound the cache
            by_operation.clear()
        attrs = by_operation[operation] = {**connection, "db.operation.name": operation}
    return attrs


def instrument(**kwargs: Any) -> None:
    """See :func:`internal_cache.telemetry.instrument`."""
    tracer_provider, meter_provider = _providers()
    with _State.lock:
        if METRICS.on and _State.providers == (tracer_provider, meter_provider):
            return
        if METRICS.on:
            _uninstrument_locked()
        instrumentor = RedisInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            _opt_into_stable_db()
            user_hook = kwargs.pop("request_hook", None)
            instrumentor.instrument(
                tracer_provider=tracer_provider, request_hook=_request_hook(user_hook), **kwargs
            )
            _State.owns_spans = True
        meter = meter_provider.get_meter("internal_cache")
        lookups: dict[tuple[bool, str], int] = {}
        METRICS.lookups = lookups
        meter.create_observable_counter(
            "cache.hits",
            callbacks=[_observe(True, lookups)],
            unit="{hit}",
            description="Lookups (get, get_value, get_or_set) that found a value.",
        )
        meter.create_observable_counter(
            "cache.misses",
            callbacks=[_observe(False, lookups)],
            unit="{miss}",
            description="Lookups (get, get_value, get_or_set) that found none.",
        )
        METRICS.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of Redis commands and pipelines.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        for owner, name in _TIMED:
            _wrap(owner, name)
        _State.providers = (tracer_provider, meter_provider)
        METRICS.on = True


def _uninstrument_locked() -> None:
    METRICS.on = False
    for owner, name in _TIMED:
        _unwrap(owner, name)
    METRICS.duration = None
    METRICS.lookups = {}
    if _State.owns_spans:
        RedisInstrumentor().uninstrument()
        _State.owns_spans = False
    _State.providers = None


def uninstrument() -> None:
    """See :func:`internal_cache.telemetry.uninstrument`."""
    with _State.lock:
        if METRICS.on:
            _uninstrument_locked()
