"""Spans and metrics of internal_cache, off until :func:`instrument` is called.

``instrument()`` turns on, for every Redis client of the process (the cache's and raw redis-py ones):

* one CLIENT span per command or pipeline from ``opentelemetry-instrumentation-redis``, with the stable
  database semantic conventions (``db.system.name=redis``, ``db.query.text`` sanitized to ``GET ?``,
  ``db.namespace``; the peer as ``net.peer.name``/``net.peer.port``, or ``server.address``/``server.port``
  with ``OTEL_SEMCONV_STABILITY_OPT_IN=http``); passwords never reach span attributes;
* the ``db.client.operation.duration`` histogram (seconds; ``db.system.name``, ``db.operation.name``
  -- the command, or ``BATCH`` for a pipeline -- ``server.address``/``server.port`` and ``error.type``);
* the ``cache.hits`` and ``cache.misses`` counters of ``CacheClient.get``/``get_value``/``get_or_set``
  (attribute ``cache.operation``: ``get`` or ``get_or_set``).

Providers come from ``internal_base.telemetry.current_telemetry()`` when it is configured, else from
OpenTelemetry's globals. Until ``instrument()`` runs (and after ``uninstrument()``) nothing is wrapped:
a lookup costs one boolean test.

Example::

    from internal_base.telemetry import configure_telemetry
    from internal_cache import telemetry

    configure_telemetry(service_name="orders", exporter="otlp")
    telemetry.instrument()
"""

from __future__ import annotations

from typing import Any

from internal_cache import _telemetry

__all__ = ["instrument", "is_instrumented", "uninstrument"]


def instrument(**kwargs: Any) -> None:
    """Turn on Redis spans and the cache's metrics (idempotent).

    Calling it again with the same providers does nothing; after ``configure_telemetry`` built new
    providers it switches to them. If ``RedisInstrumentor`` was already turned on elsewhere, its spans
    are left as they are and only the metrics are added.

    Args:
        **kwargs: Passed to ``RedisInstrumentor().instrument()`` (e.g. ``request_hook``,
            ``response_hook``); ``tracer_provider`` is the configured one.
    """
    _telemetry.instrument(**kwargs)


def uninstrument() -> None:
    """Turn spans and metrics off again (idempotent); the hot path is back to one boolean test."""
    _telemetry.uninstrument()


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return _telemetry.is_instrumented()
