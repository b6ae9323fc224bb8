"""internal_cache against raw ``redis.asyncio`` on the same server, for the harness in ``benchmarks/``.

``suite(ctx)`` yields :class:`commons_bench.Benchmark` rows; the harness runs raw and commons
interleaved, with warm-up and medians (see ``benchmarks/commons_bench``). Promises measured:

- GET/SET through :class:`CacheClient` at least 0.9x raw throughput, sequentially and from 50 tasks;
- a pipeline of 10,000 SETs at least 0.95x raw;
- lock acquire + release within 1.2x of redis-py's ``Lock``;
- a curve: lock acquire latency by contention (1, 2, 4, 8, 16 contenders);
- an instrumented GET (``internal_cache.telemetry.instrument()``: a span per command, the duration
  histogram and the hit count; spans batched to memory as an OTLP setup batches them) at least
  0.85x raw redis-py with the standard ``RedisInstrumentor`` spans, plus an informational row
  against redis-py without telemetry;
- on a Redis Cluster, GET/SET through :class:`CacheClient` at least 0.9x raw ``RedisCluster``
  (sequentially and from 50 tasks). The cluster is ``COMMONS_REDIS_CLUSTER_URL``
  (``redis://host:port,...``) or six local ``redis-server`` nodes started by ``internal_testing``.

Every key lives under ``ctx.key_prefix`` (the harness deletes it afterwards).
Run: ``COMMONS_REDIS_URL=redis://127.0.0.1:6379/0 ./pants run benchmarks:run -- --only cache``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import redis.asyncio as aioredis
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio.cluster import RedisCluster

from commons_bench import (
    BenchContext,
    Benchmark,
    CurvePoint,
    ServiceUnavailable,
    Target,
    run_concurrently,
    run_sequentially,
)
from internal_base.telemetry import configure_telemetry
from internal_cache import CacheClient, telemetry

__all__ = ["suite"]

_VALUE = b"x" * 100
_CONCURRENCY = 50
_PIPELINE = 10_000
_CONTENDERS = (1, 2, 4, 8, 16)
_HOLD = 0.001
_POLL = 0.005
_CURVE = "lock acquire latency by contention"

Op = Callable[[int], Awaitable[object]]


def _pair(name: str, raw_op: Op, commons_op: Op, *, concurrency: int, unit: str, target: Target) -> Benchmark:
    """One command per op, from one task or spread over ``concurrency`` tasks."""

    async def raw(n: int) -> None:
        if concurrency == 1:
            await run_sequentially(n, raw_op)
        else:
            await run_concurrently(n, concurrency, raw_op)

    async def commons(n: int) -> None:
        if concurrency == 1:
            await run_sequentially(n, commons_op)
        else:
            await run_concurrently(n, concurrency, commons_op)

    # Sequential round trips are the noisiest rows on a shared machine: more, shorter rounds.
    ops, rounds = (500, 31) if concurrency == 1 else (2_500, 15)
    return Benchmark(
        name, raw=raw, commons=commons, target=target, ops=ops, min_ops=concurrency, rounds=rounds, unit=unit
    )


class _Lock(Protocol):
    async def acquire(self) -> object: ...

    async def release(self) -> object: ...


def _contended(contenders: int, locks: Sequence[_Lock]) -> Callable[[int], Awaitable[float]]:
    """``n`` acquisitions shared by ``contenders`` tasks (one lock object each), each held ~1 ms.

    Returns the summed time from asking for the lock to holding it, so the harness reports the mean
    acquire latency rather than the round's wall time.
    """

    async def run(n: int) -> float:
        waited = 0.0

        async def contend(index: int) -> None:
            nonlocal waited
            lock = locks[index % contenders]  # run_concurrently gives each task one residue
            started = time.perf_counter()
            await lock.acquire()
            waited += time.perf_counter() - started
            await asyncio.sleep(_HOLD)
            await lock.release()

        await run_concurrently(n, contenders, contend)
        return waited

    return run


def _lock_curve(raw: aioredis.Redis, commons: CacheClient, raw_prefix: str, quick: bool) -> list[Benchmark]:
    points = []
    for contenders in _CONTENDERS[:3] if quick else _CONTENDERS:
        raw_locks = [
            raw.lock(f"{raw_prefix}curve:{contenders}", timeout=10, sleep=_POLL) for _ in range(contenders)
        ]
        commons_locks = [
            commons.lock(f"curve:{contenders}", ttl=10, timeout=30, retry_interval=_POLL)
            for _ in range(contenders)
        ]
        points.append(
            Benchmark(
                f"lock acquire, {contenders} contenders",
                raw=_contended(contenders, raw_locks),
                commons=_contended(contenders, commons_locks),
                ops=max(16, 4 * contenders),
                min_ops=max(16, 4 * contenders),
                rounds=5,
                unit="acquire",
                curve=CurvePoint(_CURVE, "contenders", contenders),
            )
        )
    return points


def _instrumented_rows(raw_get: Op, commons_get: Op) -> list[Benchmark]:
    """GET through an instrumented CacheClient against raw redis-py, instrumented the standard way or not.

    ``telemetry.instrument()`` adds, to the span of ``opentelemetry-instrumentation-redis``, the
    ``db.client.operation.duration`` histogram and the hit/miss counts. The target row compares it with
    raw redis-py under ``RedisInstrumentor`` alone (the same span per command): what commons adds. The
    informational row compares it with raw redis-py without any telemetry: what tracing costs at all
    (an SDK span is tens of microseconds in Python, a sizeable share of a local round trip).
    Instrumentation wraps redis-py itself, so each runner turns it on for its own rounds and off again
    (a millisecond per round); the spans of a round are dropped after it.
    """
    # As in production (exporter="otlp"), spans leave through a BatchSpanProcessor; here into memory.
    configured = configure_telemetry(service_name="bench-cache", exporter="none", set_global=False)
    exporter = InMemorySpanExporter()
    configured.tracer_provider.add_span_processor(BatchSpanProcessor(exporter))

    def runner(op: Op, concurrency: int, switch: str) -> Op:
        async def run(n: int) -> None:
            if switch == "commons":
                telemetry.instrument()
            elif switch == "contrib":
                RedisInstrumentor().instrument(tracer_provider=configured.tracer_provider)
            try:
                if concurrency == 1:
                    await run_sequentially(n, op)
                else:
                    await run_concurrently(n, concurrency, op)
            finally:
                if switch == "commons":
                    telemetry.uninstrument()
                elif switch == "contrib":
                    RedisInstrumentor().uninstrument()
                exporter.clear()

        return run

    rows = []
    for concurrency, label, ops, rounds in (
        (1, "sequential", 500, 31),
        (_CONCURRENCY, "50 concurrent tasks", 2_500, 15),
    ):
        rows += [
            Benchmark(
                f"instrumented GET {label}, against instrumented raw",
                raw=runner(raw_get, concurrency, "contrib"),
                commons=runner(commons_get, concurrency, "commons"),
                target=Target.throughput_ratio(0.85),
                ops=ops,
                min_ops=concurrency,
                rounds=rounds,
                unit="GET",
                note="both with RedisInstrumentor spans (batched to memory); commons adds the duration "
                "histogram and hit/miss counts",
            ),
            Benchmark(
                f"instrumented GET {label}, against raw without telemetry",
                raw=runner(raw_get, concurrency, "none"),
                commons=runner(commons_get, concurrency, "commons"),
                target=None,
                ops=ops,
                min_ops=concurrency,
                rounds=rounds,
                unit="GET",
                note="informational: the whole cost of a span + histogram per command",
            ),
        ]
    return rows


@contextlib.contextmanager
def _cluster_nodes() -> Iterator[list[str]]:
    """``host:port`` of a Redis Cluster's nodes: COMMONS_REDIS_CLUSTER_URL, else six local nodes."""
    given = os.environ.get("COMMONS_REDIS_CLUSTER_URL", "").strip()
    if given:
        yield [entry.strip().removeprefix("redis://").rstrip("/") for entry in given.split(",")]
        return
    try:
        from internal_testing import RedisCluster as LocalCluster
        from internal_testing import ServiceUnavailable as NotStarted
    except ImportError as exc:  # pragma: no cover - the commons resolve has it
        raise ServiceUnavailable("cluster rows need COMMONS_REDIS_CLUSTER_URL or internal_testing") from exc
    try:
        cluster = LocalCluster.start_local()
    except NotStarted as exc:
        raise ServiceUnavailable(f"no Redis Cluster: set COMMONS_REDIS_CLUSTER_URL ({exc})") from exc
    try:
        yield [f"{host}:{port}" for host, port in cluster.nodes]
    finally:
        cluster.close()


@asynccontextmanager
async def _cluster_rows(key_prefix: str) -> AsyncIterator[list[Benchmark]]:
    """GET/SET sequential and from 50 tasks: CacheClient against raw RedisCluster on one cluster."""
    with _cluster_nodes() as nodes:
        host, _, port = nodes[0].rpartition(":")
        raw = RedisCluster(host=host, port=int(port))
        commons = CacheClient.from_url(
            "redis+cluster://" + ",".join(nodes), key_prefix=f"{key_prefix}cluster:", health_check=False
        )
        rp = f"{key_prefix}raw-cluster:"
        try:
            await raw.set(f"{rp}get", _VALUE)
            await commons.set("get", _VALUE)

            async def raw_get(index: int) -> None:
                await raw.get(f"{rp}get")

            async def commons_get(index: int) -> None:
                await commons.get("get")

            async def raw_set(index: int) -> None:
                await raw.set(f"{rp}set:{index % 100}", _VALUE)

            async def commons_set(index: int) -> None:
                await commons.set(f"set:{index % 100}", _VALUE)

            aim = Target.throughput_ratio(0.9)
            yield [
                _pair("cluster GET sequential", raw_get, commons_get, concurrency=1, unit="GET", target=aim),
                _pair("cluster SET sequential", raw_set, commons_set, concurrency=1, unit="SET", target=aim),
                _pair(
                    "cluster GET, 50 concurrent tasks",
                    raw_get,
                    commons_get,
                    concurrency=_CONCURRENCY,
                    unit="GET",
                    target=aim,
                ),
                _pair(
                    "cluster SET, 50 concurrent tasks",
                    raw_set,
                    commons_set,
                    concurrency=_CONCURRENCY,
                    unit="SET",
                    target=aim,
                ),
            ]
        finally:
            with contextlib.suppress(Exception):  # the cluster may be gone (a node stopped)
                await commons.clear()
                await raw.delete(f"{rp}get", *(f"{rp}set:{i}" for i in range(100)))
            await commons.aclose()
            await raw.aclose()


@asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """GET/SET sequential and 50-way concurrent, a 10,000-SET pipeline, locks, the contention curve, and
    GET/SET on a Redis Cluster."""
    raw = aioredis.Redis.from_url(ctx.redis_url)
    commons = CacheClient.from_url(ctx.redis_url, key_prefix=f"{ctx.key_prefix}commons:")
    rp = f"{ctx.key_prefix}raw:"
    try:
        async with _cluster_rows(ctx.key_prefix) as cluster_rows:
            await raw.set(f"{rp}get", _VALUE)
            await commons.set("get", _VALUE)

            async def raw_get(index: int) -> None:
                await raw.get(f"{rp}get")

            async def commons_get(index: int) -> None:
                await commons.get("get")

            async def raw_set(index: int) -> None:
                await raw.set(f"{rp}set:{index % 100}", _VALUE)

            async def commons_set(index: int) -> None:
                await commons.set(f"set:{index % 100}", _VALUE)

            raw_keys = [f"{rp}p:{i}" for i in range(_PIPELINE)]
            commons_keys = [f"p:{i}" for i in range(_PIPELINE)]

            async def raw_pipeline(n: int) -> None:
                for _ in range(n):
                    async with raw.pipeline(transaction=False) as pipe:
                        for key in raw_keys:
                            pipe.set(key, _VALUE)
                        await pipe.execute()

            async def commons_pipeline(n: int) -> None:
                for _ in range(n):
                    async with commons.pipeline() as pipe:
                        for key in commons_keys:
                            pipe.set(key, _VALUE)
                        await pipe.execute()

            async def raw_lock(n: int) -> None:
                lock = raw.lock(f"{rp}lock", timeout=10)
                for _ in range(n):
                    await lock.acquire()
                    await lock.release()

            async def commons_lock(n: int) -> None:
                lock = commons.lock("lock", ttl=10)
                for _ in range(n):
                    await lock.acquire()
                    await lock.release()

            throughput = Target.throughput_ratio(0.9)
            yield [
                _pair("GET sequential", raw_get, commons_get, concurrency=1, unit="GET", target=throughput),
                _pair("SET sequential", raw_set, commons_set, concurrency=1, unit="SET", target=throughput),
                _pair(
                    "GET, 50 concurrent tasks",
                    raw_get,
                    commons_get,
                    concurrency=_CONCURRENCY,
                    unit="GET",
                    target=throughput,
                ),
                _pair(
                    "SET, 50 concurrent tasks",
                    raw_set,
                    commons_set,
                    concurrency=_CONCURRENCY,
                    unit="SET",
                    target=throughput,
                ),
                Benchmark(
                    "pipeline of 10,000 SETs",
                    raw=raw_pipeline,
                    commons=commons_pipeline,
                    target=Target.throughput_ratio(0.95),
                    ops=1,
                    unit="pipeline",
                    track_memory=True,
                ),
                Benchmark(
                    "lock acquire + release (uncontended)",
                    raw=raw_lock,
                    commons=commons_lock,
                    target=Target.cost_ratio(1.2),
                    ops=500,
                    unit="lock",
                    note="raw: redis-py asyncio Lock; commons: CacheClient.lock (with a fencing token)",
                ),
                *_lock_curve(raw, commons, rp, ctx.quick),
                *_instrumented_rows(raw_get, commons_get),
                *cluster_rows,
            ]
    finally:
        await commons.aclose()
        await raw.aclose()


if __name__ == "__main__":  # pragma: no cover - a shortcut for `./pants run benchmarks:run -- --only cache`
    from commons_bench.__main__ import main

    raise SystemExit(main(["--only", "cache", *sys.argv[1:]]))
