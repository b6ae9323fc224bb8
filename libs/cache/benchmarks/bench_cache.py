"""Throughput of internal_cache against raw ``redis.asyncio`` on the same server.

Each benchmark builds a raw client and a :class:`CacheClient` (separate pools, same
server), warms both up, then measures them in alternating rounds (raw first on even
rounds, commons first on odd ones) in the same process, so drift in the machine's
load hits both sides alike. Each returns::

    {"operation": str, "raw": ops/s, "commons": ops/s, "unit": "ops/s",
     "target": minimum commons/raw ratio, "ratio": commons/raw}

Run directly: ``python libs/cache/benchmarks/bench_cache.py [redis://127.0.0.1:6379/0]``.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import redis.asyncio as aioredis

from internal_cache import CacheClient

__all__ = ["benchmarks", "main"]

Result = dict[str, object]
Op = Callable[[], Awaitable[None]]

ROUNDS = 20


async def _measure(
    raw_op: Op, commons_op: Op, ops_per_round: int, rounds: int = ROUNDS
) -> tuple[float, float, float]:
    """Run both ops ``rounds`` times, alternating which goes first.

    Returns the median ops/s of each side and the median of the per-round ratios
    (commons/raw of the same round), which is robust to load spikes on a shared machine.
    """
    await raw_op()  # warm-up: connections, scripts, caches
    await commons_op()
    raw_rates: list[float] = []
    commons_rates: list[float] = []
    for i in range(rounds):
        order = [(raw_rates, raw_op), (commons_rates, commons_op)]
        if i % 2:
            order.reverse()
        for rates, op in order:
            start = time.perf_counter()
            await op()
            rates.append(ops_per_round / (time.perf_counter() - start))
    ratios = [c / r for r, c in zip(raw_rates, commons_rates, strict=True)]
    return statistics.median(raw_rates), statistics.median(commons_rates), statistics.median(ratios)


def _result(operation: str, measured: tuple[float, float, float], target: float) -> Result:
    raw, commons, ratio = measured
    return {
        "operation": operation,
        "raw": round(raw, 1),
        "commons": round(commons, 1),
        "unit": "ops/s",
        "target": target,
        "ratio": round(ratio, 3),
    }


async def _clients(redis_url: str) -> tuple[aioredis.Redis, CacheClient, str]:
    tag = secrets.token_hex(4)
    raw = aioredis.Redis.from_url(redis_url)
    commons = CacheClient.from_url(redis_url, key_prefix=f"bench:{tag}:c:", max_connections=64)
    return raw, commons, f"bench:{tag}:r:"


async def _cleanup(raw: aioredis.Redis, commons: CacheClient, raw_prefix: str) -> None:
    await commons.clear()
    async for key in raw.scan_iter(match=raw_prefix + "*", count=1000):
        await raw.delete(key)
    await commons.aclose()
    await raw.aclose()


async def bench_get_set_sequential(redis_url: str, n: int = 250) -> Result:
    """SET then GET, one after another (one op = one command)."""
    raw, commons, rp = await _clients(redis_url)
    raw_key = rp + "k"

    async def raw_op() -> None:
        for _ in range(n):
            await raw.set(raw_key, b"value")
            await raw.get(raw_key)

    async def commons_op() -> None:
        for _ in range(n):
            await commons.set("k", b"value")
            await commons.get("k")

    try:
        measured = await _measure(raw_op, commons_op, 2 * n)
    finally:
        await _cleanup(raw, commons, rp)
    return _result("get/set sequential", measured, 0.9)


async def bench_get_set_concurrent(redis_url: str, tasks: int = 50, n: int = 10) -> Result:
    """SET then GET from ``tasks`` concurrent tasks."""
    raw, commons, rp = await _clients(redis_url)

    async def raw_worker(i: int) -> None:
        key = f"{rp}k{i}"
        for _ in range(n):
            await raw.set(key, b"value")
            await raw.get(key)

    async def commons_worker(i: int) -> None:
        key = f"k{i}"
        for _ in range(n):
            await commons.set(key, b"value")
            await commons.get(key)

    async def raw_op() -> None:
        await asyncio.gather(*(raw_worker(i) for i in range(tasks)))

    async def commons_op() -> None:
        await asyncio.gather(*(commons_worker(i) for i in range(tasks)))

    try:
        measured = await _measure(raw_op, commons_op, 2 * n * tasks)
    finally:
        await _cleanup(raw, commons, rp)
    return _result(f"get/set {tasks} concurrent tasks", measured, 0.9)


async def bench_pipeline(redis_url: str, size: int = 10_000) -> Result:
    """One non-transactional pipeline of ``size`` SETs (ops = SETs)."""
    raw, commons, rp = await _clients(redis_url)
    raw_keys = [f"{rp}p{i}" for i in range(size)]
    keys = [f"p{i}" for i in range(size)]

    async def raw_op() -> None:
        async with raw.pipeline(transaction=False) as pipe:
            for key in raw_keys:
                pipe.set(key, b"value")
            await pipe.execute()

    async def commons_op() -> None:
        async with commons.pipeline() as pipe:
            for key in keys:
                pipe.set(key, b"value")
            await pipe.execute()

    try:
        measured = await _measure(raw_op, commons_op, size, rounds=10)
    finally:
        await _cleanup(raw, commons, rp)
    return _result(f"pipeline of {size} SETs", measured, 0.95)


async def bench_lock(redis_url: str, n: int = 150) -> Result:
    """Acquire + release of an uncontended lock (redis-py ``Lock`` vs :class:`Lock`)."""
    raw, commons, rp = await _clients(redis_url)
    raw_name = rp + "lock"

    async def raw_op() -> None:
        for _ in range(n):
            lock = raw.lock(raw_name, timeout=10)
            await lock.acquire()
            await lock.release()

    async def commons_op() -> None:
        for _ in range(n):
            lock = commons.lock("lock", ttl=10)
            await lock.acquire()
            await lock.release()

    try:
        measured = await _measure(raw_op, commons_op, n)
    finally:
        await _cleanup(raw, commons, rp)
    # "within 1.2x of redis-py's Lock": commons time <= 1.2 * raw time.
    return _result("lock acquire+release", measured, round(1 / 1.2, 3))


def benchmarks(redis_url: str) -> list[Callable[[], Awaitable[Result]]]:
    """The benchmarks of internal_cache, each a zero-argument coroutine function."""
    return [
        partial(bench_get_set_sequential, redis_url),
        partial(bench_get_set_concurrent, redis_url),
        partial(bench_pipeline, redis_url),
        partial(bench_lock, redis_url),
    ]


async def main(redis_url: str = "redis://127.0.0.1:6379/0") -> list[Result]:
    """Run every benchmark once and print one line per result."""
    results = []
    for bench in benchmarks(redis_url):
        result = await bench()
        results.append(result)
        verdict = "ok" if float(result["ratio"]) >= float(result["target"]) else "MISSED"  # type: ignore[arg-type]
        print(
            f"{result['operation']:<32} raw {result['raw']:>10} commons {result['commons']:>10} "
            f"{result['unit']}  ratio {result['ratio']} (target {result['target']}) {verdict}"
        )
    return results


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:2]))
