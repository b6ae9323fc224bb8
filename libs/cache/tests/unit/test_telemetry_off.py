"""Telemetry is off until instrument(): nothing wrapped, lookups not counted, no meter touched."""

from __future__ import annotations

import redis.asyncio.client
import redis.asyncio.cluster

from internal_base.telemetry import configure_telemetry
from internal_cache import CacheClient, telemetry
from internal_cache._telemetry import METRICS


async def test_off_by_default_costs_one_flag(cache: CacheClient) -> None:
    """Before instrument(): redis-py methods are the originals and no metric is recorded."""
    assert not telemetry.is_instrumented()
    assert not METRICS.on
    for owner, name in (
        (redis.asyncio.client.Redis, "execute_command"),
        (redis.asyncio.client.Pipeline, "execute"),
        (redis.asyncio.cluster.RedisCluster, "execute_command"),
    ):
        assert not hasattr(owner.__dict__[name], "__wrapped__")
    configured = configure_telemetry(service_name="cache-unit", exporter="memory")
    await cache.set("k", 1)
    assert await cache.get("k") == b"1"
    assert configured.metric_reader is not None
    data = configured.metric_reader.get_metrics_data()
    names = [
        m.name for r in (data.resource_metrics if data else []) for s in r.scope_metrics for m in s.metrics
    ]
    assert "cache.hits" not in names
    assert configured.span_exporter is not None
    assert configured.span_exporter.get_finished_spans() == ()


async def test_instrumented_fakeredis_counts(cache: CacheClient) -> None:
    """Instrumented, a fakeredis-backed client counts hits and misses too (same code path)."""
    configured = configure_telemetry(service_name="cache-unit", exporter="memory")
    telemetry.instrument()
    try:
        await cache.set("k", 1)
        await cache.get("k")
        await cache.get("missing")
    finally:
        telemetry.uninstrument()
    assert configured.metric_reader is not None
    data = configured.metric_reader.get_metrics_data()
    assert data is not None
    values: dict[str, int] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name in ("cache.hits", "cache.misses"):
                    values[metric.name] = sum(int(getattr(p, "value", 0)) for p in metric.data.data_points)
    assert values == {"cache.hits": 1, "cache.misses": 1}
