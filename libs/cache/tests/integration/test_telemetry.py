"""internal_cache.telemetry with real servers: redis spans, cache hit/miss counters, command durations."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.metrics.export import HistogramDataPoint, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from internal_base.telemetry import Telemetry, configure_telemetry
from internal_cache import CacheClient, CacheError, CacheSettings, telemetry
from internal_cache._telemetry import METRICS

MakeClient = Callable[..., CacheClient]
PASSWORD = "tel3metry-Secret-pw"


@pytest.fixture(name="otel")
def otel_fixture() -> Iterator[Telemetry]:
    """In-memory exporters, the cache instrumented; uninstrumented afterwards."""
    configured = configure_telemetry(service_name="cache-tests", exporter="memory")
    telemetry.instrument()
    yield configured
    telemetry.uninstrument()


def spans(otel: Telemetry) -> list[ReadableSpan]:
    assert otel.span_exporter is not None
    return list(otel.span_exporter.get_finished_spans())


def points(otel: Telemetry, name: str) -> list[Any]:
    """Every data point of metric ``name`` collected now."""
    assert otel.metric_reader is not None
    data = otel.metric_reader.get_metrics_data()
    found: list[Any] = []
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found += list(metric.data.data_points)
    return found


def counted(otel: Telemetry, name: str, **attrs: str) -> int:
    total = 0
    for point in points(otel, name):
        assert isinstance(point, NumberDataPoint)
        found = dict(point.attributes or {})
        if all(found.get(k) == v for k, v in attrs.items()):
            total += int(point.value)
    return total


async def test_commands_make_client_spans_with_stable_conventions(
    otel: Telemetry, make_client: MakeClient
) -> None:
    """Each command is one CLIENT span named after it, db.system.name=redis, statement sanitized."""
    cache = make_client()
    await cache.set("k", "value-not-in-spans")
    await cache.get("k")
    names = [s.name for s in spans(otel)]
    assert names[-2:] == ["SET", "GET"]
    get = spans(otel)[-1]
    assert get.kind is SpanKind.CLIENT
    attrs = dict(get.attributes or {})
    assert attrs["db.system.name"] == "redis"
    assert attrs["db.query.text"] == "GET ?"
    assert attrs.get("server.address", attrs.get("net.peer.name")) == "127.0.0.1"
    assert isinstance(attrs.get("server.port", attrs.get("net.peer.port")), int)
    assert "value-not-in-spans" not in json.dumps([dict(s.attributes or {}) for s in spans(otel)])


async def test_hits_misses_and_durations(otel: Telemetry, make_client: MakeClient) -> None:
    """get/get_value count a hit or a miss; get_or_set counts one per call; commands record durations."""
    cache = make_client()
    await cache.set_value("present", 1)
    assert await cache.get("present") == b"1"
    assert await cache.get_value("absent") is None
    assert await cache.get("absent") is None

    async def compute() -> int:
        return 7

    assert await cache.get_or_set("computed", compute) == 7  # a miss, then stored
    assert await cache.get_or_set("computed", compute) == 7  # a hit
    assert counted(otel, "cache.hits", **{"cache.operation": "get"}) == 1
    assert counted(otel, "cache.misses", **{"cache.operation": "get"}) == 2
    assert counted(otel, "cache.hits", **{"cache.operation": "get_or_set"}) == 1
    assert counted(otel, "cache.misses", **{"cache.operation": "get_or_set"}) == 1
    with pytest.raises(CacheError, match="WRONGTYPE"):
        await cache.call(cache.redis.lpush, cache.key("present"), "x")
    durations = points(otel, "db.client.operation.duration")
    by_operation: dict[str, HistogramDataPoint] = {}
    for point in durations:
        assert isinstance(point, HistogramDataPoint)
        attrs = dict(point.attributes or {})
        assert attrs["db.system.name"] == "redis"
        if "error.type" not in attrs:
            by_operation[str(attrs["db.operation.name"])] = point
    assert {"GET", "SET"} <= set(by_operation)
    assert by_operation["GET"].count >= 4
    assert 0 < by_operation["GET"].sum < 10 * by_operation["GET"].count
    failed = [p for p in durations if p.attributes.get("error.type") == "ResponseError"]
    assert [p.attributes["db.operation.name"] for p in failed] == ["LPUSH"]


async def test_pipelines_are_one_batch(otel: Telemetry, make_client: MakeClient) -> None:
    """A pipeline records one BATCH duration and one span."""
    cache = make_client()
    before = len(spans(otel))
    async with cache.pipeline() as pipe:
        pipe.set("a", 1).set("b", 2).get("a")
        assert await pipe.execute() == [True, True, b"1"]
    assert len(spans(otel)) == before + 1
    durations = points(otel, "db.client.operation.duration")
    batches = [p for p in durations if p.attributes["db.operation.name"] == "BATCH"]
    assert sum(p.count for p in batches) == 1


async def test_password_never_reaches_span_attributes(
    otel: Telemetry, redis_server_factory: Callable[..., Any]
) -> None:
    """AUTH on connect and an explicit AUTH command leave no password in any span attribute or event."""
    server = redis_server_factory()
    admin = aioredis.Redis(port=server.port)
    await admin.config_set("requirepass", PASSWORD)
    await admin.aclose()
    url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
    cache = CacheClient(CacheSettings(url=SecretStr(url), key_prefix="tel:", health_check=False))
    try:
        await cache.set("k", 1)
        assert await cache.call(cache.redis.execute_command, "AUTH", PASSWORD)
        with pytest.raises(CacheError):
            await cache.call(cache.redis.execute_command, "AUTH", "default", f"wrong-{PASSWORD}")
    finally:
        await cache.aclose()
    dumped = json.dumps(
        [
            {
                "name": s.name,
                "attributes": dict(s.attributes or {}),
                "events": [dict(e.attributes or {}) for e in s.events],
                "status": s.status.description,
            }
            for s in spans(otel)
        ],
        default=str,
    )
    assert "AUTH" in dumped
    assert PASSWORD not in dumped


async def test_cluster_spans_and_durations(otel: Telemetry, make_cluster_client: MakeClient) -> None:
    """A cluster client's commands are spanned and timed too, with db.system.name."""
    cache = make_cluster_client()
    await cache.set("k", 1)
    assert await cache.get("k") == b"1"
    cluster_spans = [s for s in spans(otel) if s.name == "GET"]
    assert cluster_spans
    assert dict(cluster_spans[-1].attributes or {})["db.system.name"] == "redis"
    assert counted(otel, "cache.hits", **{"cache.operation": "get"}) == 1
    async with cache.pipeline() as pipe:
        pipe.set("a", 1).set("b", 2)
        assert await pipe.execute() == [True, True]
    batches = [
        p
        for p in points(otel, "db.client.operation.duration")
        if p.attributes["db.operation.name"] == "BATCH"
    ]
    assert sum(p.count for p in batches) == 1


async def test_idempotent_and_undone(make_client: MakeClient) -> None:
    """instrument() twice spans each command once; uninstrument() unwraps redis-py and stops counting."""
    original = aioredis.Redis.execute_command
    configured = configure_telemetry(service_name="cache-tests", exporter="memory")
    telemetry.instrument()
    telemetry.instrument()
    try:
        assert telemetry.is_instrumented()
        cache = make_client()
        await cache.get("x")
        assert [s.name for s in spans(configured)] == ["GET"]
        again = configure_telemetry(service_name="cache-tests", exporter="memory")
        telemetry.instrument()  # new providers: switches to them
        await cache.get("x")
        assert [s.name for s in spans(again)] == ["GET"]
        assert [s.name for s in spans(configured)] == ["GET"]
    finally:
        telemetry.uninstrument()
        telemetry.uninstrument()
    assert not telemetry.is_instrumented()
    assert not METRICS.on
    assert aioredis.Redis.execute_command is original
    await cache.get("x")
    assert [s.name for s in spans(again)] == ["GET"]
    assert counted(again, "cache.misses") == 1
