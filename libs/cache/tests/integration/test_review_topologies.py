"""Adversarial review against the real Redis Cluster and Sentinel fixtures.

Sentinel failures (wrong master name, every sentinel down), cluster readiness, aclose() with
commands in flight, and a burst of concurrent first commands on a fresh cluster client.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from internal_cache import CacheClient, CacheError, CacheSettings, CacheUnavailableError
from internal_testing import RedisCluster, RedisSentinel

SECRET = "s3cr3t!pw"


def _closed_ports(count: int) -> list[int]:
    """Loopback ports nobody listens on (bound, then released)."""
    ports = []
    for _ in range(count):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


def _client(url: str, **settings: object) -> CacheClient:
    options: dict[str, object] = {"health_check": False, **settings}
    return CacheClient(CacheSettings(url=SecretStr(url), **options))  # type: ignore[arg-type]


async def test_sentinel_wrong_master_name_fails_fast_and_says_so(redis_sentinel: RedisSentinel) -> None:
    """Sentinels that answer but monitor no such master: a configuration error, not an outage.

    Before: the default 10 s window was spent retrying "No master found" before the error.
    """
    sentinels = ",".join(f"{h}:{p}" for h, p in redis_sentinel.sentinels)
    client = _client(f"redis+sentinel://:{SECRET}@{sentinels}/no-such-master")
    started = time.monotonic()
    try:
        with pytest.raises(CacheUnavailableError) as caught:
            await client.get("k")
        elapsed = time.monotonic() - started
        message = str(caught.value)
        assert elapsed < 5.0, elapsed  # the window is 10 s: no retries for a wrong name
        assert "no-such-master" in message
        assert "monitor" in message
        assert SECRET not in message
        assert client.stats.retries == 0
        with pytest.raises(CacheUnavailableError, match="no-such-master"):
            await client.health_check()
    finally:
        await client.aclose()


async def test_sentinel_all_down_fails_within_the_window() -> None:
    """Every sentinel refusing connections: CacheUnavailableError once the (1 s) window is used up.

    Before: each sentinel connection retried on its own (redis-py's default Retry), so one
    attempt took seconds and the call ended after about 15 s; the error carried the full repr
    of every redis-py client and connection.
    """
    ports = _closed_ports(2)
    url = f"redis+sentinel://:{SECRET}@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/mymaster"
    client = _client(url, resilience={"retry": {"total_timeout": 1.0}})
    started = time.monotonic()
    try:
        with pytest.raises(CacheUnavailableError) as caught:
            await client.get("k")
        elapsed = time.monotonic() - started
        message = str(caught.value)
        assert elapsed < 6.0, elapsed
        assert f"127.0.0.1:{ports[0]}" in message
        assert f"127.0.0.1:{ports[1]}" in message
        assert "ConnectionPool" not in message
        assert len(message) < 600, message
        assert SECRET not in message
    finally:
        await client.aclose()


def _cluster_url(cluster: RedisCluster) -> str:
    return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in cluster.nodes)


async def test_cluster_burst_of_first_commands_raises_only_cache_errors(redis_cluster: RedisCluster) -> None:
    """Many tasks using a fresh cluster client at once: every call succeeds (or fails as a CacheError).

    Before: redis-py 8.1's RedisCluster recycles connections on every slot-map refresh, and a
    connection closed under a task still handshaking surfaced as a bare ``AttributeError``
    ('NoneType' object has no attribute 'writelines') straight through CacheClient.
    """
    namespace = f"review:{secrets.token_hex(3)}:"
    client = _client(_cluster_url(redis_cluster), key_prefix=namespace)
    unexpected: list[BaseException] = []

    async def worker(index: int) -> None:
        for round_ in range(150):
            try:
                await client.set(f"k{index}", round_)
                assert await client.get(f"k{index}") == str(round_).encode()
            except Exception as exc:  # - the point: a healthy cluster answers every call
                unexpected.append(exc)

    try:
        for _ in range(3):  # three fresh starts: each begins with a slot-map load under load
            await asyncio.gather(*(worker(i) for i in range(24)))
            await client.aclose()
            client = _client(_cluster_url(redis_cluster), key_prefix=namespace)
        assert unexpected == []
    finally:
        await client.clear()
        await client.aclose()


async def test_cluster_aclose_lets_commands_in_flight_finish(redis_cluster: RedisCluster) -> None:
    """aclose() on a cluster client waits for commands in flight, as it does on one server.

    Before: the node connections were closed under a running command (CacheUnavailableError).
    """
    namespace = f"review:{secrets.token_hex(3)}:"
    client = _client(_cluster_url(redis_cluster), key_prefix=namespace)
    await client.set("warm", 1)
    started = asyncio.Event()

    async def blocked_pop() -> object:
        started.set()
        return await client.call(client.redis.blpop, [client.key("queue")], timeout=1)

    pop = asyncio.create_task(blocked_pop())
    await started.wait()
    await asyncio.sleep(0.1)  # let BLPOP reach the server (the outcome does not depend on it)
    await client.delete("warm")
    await client.aclose(drain_timeout=10.0)
    assert await pop is None  # BLPOP timed out normally: nobody pushed, nothing was cut
    with pytest.raises(CacheError, match="closed"):
        await client.get("warm")


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[RedisCluster]:
    """Three primaries, no replicas: killing one leaves its slot range failed until it is back."""
    try:
        cluster = RedisCluster.start_local(primaries=3, replicas_per_primary=0, node_timeout_ms=1000)
    except Exception as exc:  # - no redis-server on PATH
        pytest.skip(f"cannot start a Redis Cluster: {exc}")
    with cluster:
        yield cluster


def _cluster_state(cluster: RedisCluster, port: int) -> str | None:
    from internal_testing._resp import info_field, query_or_none

    return info_field(query_or_none(port, "CLUSTER", "INFO"), "cluster_state")


async def test_cluster_readiness_reflects_a_failed_slot_range(small_cluster: RedisCluster) -> None:
    """A primary down with no replica (its slots uncovered): the readiness check says unavailable.

    Before: the check sent PING to one node (redis-py's default node) and reported healthy while a
    third of the keyspace could not be served.
    """
    client = _client(_cluster_url(small_cluster), key_prefix="ready:")
    try:
        assert await client.health_check() is True
        assert isinstance(client.redis, AsyncRedisCluster)
        default = client.redis.get_default_node()
        victim = next(port for _, port in small_cluster.primaries() if port != default.port)
        survivor = next(port for _, port in small_cluster.primaries() if port != victim)
        small_cluster.kill(victim)
        try:
            deadline = time.monotonic() + 60
            while _cluster_state(small_cluster, survivor) != "fail":
                assert time.monotonic() < deadline, "the cluster never noticed the dead primary"
                await asyncio.sleep(0.1)
            with pytest.raises(CacheUnavailableError):
                await client.health_check()
        finally:
            small_cluster.restart(victim)
            small_cluster.wait_healthy(timeout=60)
        deadline = time.monotonic() + 30
        while True:  # redis-py reloads its slot map after the failed check
            try:
                assert await client.health_check() is True
                break
            except CacheUnavailableError:
                assert time.monotonic() < deadline, "readiness never recovered"
                await asyncio.sleep(0.2)
    finally:
        await client.aclose()


async def test_cluster_telemetry_toggled_under_load_keeps_values_and_keys_out(
    redis_cluster: RedisCluster,
) -> None:
    """instrument()/uninstrument() twice each, repeatedly, while commands run on a cluster client.

    No call fails, spans carry no key or value, metric attributes carry no key (bounded
    cardinality), and redis-py's methods are the originals afterwards.
    """
    import redis.asyncio.client
    import redis.asyncio.cluster

    from internal_base.telemetry import configure_telemetry
    from internal_cache import telemetry

    configured = configure_telemetry(service_name="cache-review", exporter="memory")
    namespace = f"review:{secrets.token_hex(3)}:"
    client = _client(_cluster_url(redis_cluster), key_prefix=namespace)
    await client.ping()
    stop = asyncio.Event()
    failures: list[BaseException] = []

    async def worker(index: int) -> None:
        while not stop.is_set():
            try:
                await client.set(f"key-{index}-{SECRET}", f"value-{SECRET}")
                await client.get(f"key-{index}-{SECRET}")
                await client.mget([f"key-{index}-{SECRET}", f"other-{index}"])
                async with client.pipeline() as pipe:
                    await pipe.get(f"key-{index}-{SECRET}").execute()
            except Exception as exc:  # - none may fail
                failures.append(exc)
            await asyncio.sleep(0)

    workers = [asyncio.create_task(worker(i)) for i in range(8)]
    try:
        for _ in range(10):
            telemetry.instrument()
            telemetry.instrument()
            assert telemetry.is_instrumented()
            await asyncio.sleep(0.02)
            telemetry.uninstrument()
            telemetry.uninstrument()
            assert not telemetry.is_instrumented()
            await asyncio.sleep(0.01)
        telemetry.instrument()
        await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        telemetry.uninstrument()
        await client.clear()
        await client.aclose()
    assert failures == []
    assert configured.span_exporter is not None
    spans = configured.span_exporter.get_finished_spans()
    assert spans
    for span in spans:
        assert SECRET not in repr(dict(span.attributes or {})), span.name
        assert SECRET not in span.name
    assert configured.metric_reader is not None
    data = configured.metric_reader.get_metrics_data()
    points = [
        (metric.name, dict(point.attributes or {}))
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]
    durations = [attrs for name, attrs in points if name == "db.client.operation.duration"]
    assert durations
    assert len(durations) < 20  # per operation (and error type), not per key
    for _, attrs in points:
        assert SECRET not in repr(attrs)
    for owner, name in (
        (redis.asyncio.client.Redis, "execute_command"),
        (redis.asyncio.client.Pipeline, "execute"),
        (redis.asyncio.cluster.RedisCluster, "execute_command"),
        (redis.asyncio.cluster.ClusterPipeline, "execute"),
    ):
        assert not hasattr(owner.__dict__[name], "__wrapped__"), (owner, name)


async def test_cluster_clear_rides_through_a_primary_failover(redis_cluster: RedisCluster) -> None:
    """clear() started right after a primary died: it retries within the window and deletes everything.

    Before: the first SCAN on the dead node raised CacheUnavailableError ("dropped the connection
    during SCAN") at once, while every other command rode through the same failover.
    """
    if not redis_cluster.managed:
        pytest.skip("the cluster comes from COMMONS_REDIS_CLUSTER_URL: its nodes cannot be killed")
    namespace = f"review:{secrets.token_hex(3)}:"
    client = _client(
        _cluster_url(redis_cluster), key_prefix=namespace, resilience={"retry": {"total_timeout": 30.0}}
    )
    try:
        async with client.pipeline() as pipe:
            for index in range(600):
                pipe.set(f"k{index}", index)
            await pipe.execute()
        raw = client.redis
        assert isinstance(raw, AsyncRedisCluster)
        for index in range(10):  # binary keys: deleted by clear() too
            await raw.set(namespace.encode() + b"\xff\xfe" + bytes([index]), b"x")
        await raw.wait(1, 5000, target_nodes=AsyncRedisCluster.PRIMARIES)  # replicated before the kill
        victim = redis_cluster.primary_for(client.key("k0"))
        slot = redis_cluster.keyslot(client.key("k0"))
        redis_cluster.kill(victim[1])
        try:
            deleted = await client.clear(batch=50)
        finally:
            await asyncio.to_thread(redis_cluster.wait_failover, slot, old_primary=victim, timeout=60)
            redis_cluster.restart(victim[1])
            await asyncio.to_thread(redis_cluster.wait_healthy, timeout=60)
        assert deleted == 610
        left = [key async for key in raw.scan_iter(match=f"{namespace}*")]
        assert left == []
    finally:
        await client.aclose()
