"""Interleaved timing: warm-up, alternating raw/commons rounds, medians, optional peak memory."""

from __future__ import annotations

import gc
import inspect
import time
import tracemalloc
from dataclasses import dataclass

from commons_bench._benchmark import Benchmark, Runner
from commons_bench._measurement import Measurement

__all__ = ["Plan", "measure", "run_once"]


@dataclass(frozen=True)
class Plan:
    """How much to run each benchmark.

    Many short rounds beat a few long ones on a shared machine: each round pairs raw and commons
    under the same load, and the median of many paired ratios shrugs off the rounds a neighbour spoiled.

    Attributes:
        rounds: Timed rounds per variant (a benchmark's own ``rounds`` overrides this).
        warmup: Untimed rounds per variant before the timed ones.
        ops_divisor: Divides each benchmark's ``ops`` (``--quick`` uses 10), down to its ``min_ops``.
    """

    rounds: int = 15
    warmup: int = 1
    ops_divisor: int = 1

    @classmethod
    def quick(cls) -> Plan:
        """A smoke run: a tenth of the operations, three timed rounds."""
        return cls(rounds=3, warmup=1, ops_divisor=10)

    def ops_for(self, benchmark: Benchmark) -> int:
        """Operations per round for ``benchmark`` under this plan."""
        return max(benchmark.min_ops, benchmark.ops // self.ops_divisor)

    def rounds_for(self, benchmark: Benchmark) -> int:
        """Timed rounds for ``benchmark`` under this plan (quick runs cap a benchmark's own rounds)."""
        if benchmark.rounds is None:
            return self.rounds
        return min(benchmark.rounds, self.rounds) if self.ops_divisor > 1 else benchmark.rounds


async def run_once(runner: Runner, n: int) -> object:
    """Run ``n`` operations of ``runner``, awaiting the result when it is awaitable; return the result."""
    result = runner(n)
    if inspect.isawaitable(result):
        return await result
    return result


async def _timed(runner: Runner, n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    result = await run_once(runner, n)
    elapsed = time.perf_counter() - start
    # A runner that returns a float measured its own operations (e.g. summed acquire latencies).
    return (result if isinstance(result, float) else elapsed) / n


async def _peak_bytes(runner: Runner, n: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        await run_once(runner, n)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def measure(benchmark: Benchmark, plan: Plan) -> Measurement:
    """Measure ``benchmark``: warm-up, then timed rounds with raw and commons interleaved.

    The order within a round alternates (raw first, then commons first, ...) so that neither variant
    always runs on a warmer cache or right after a collection. Peak memory, when asked for, is taken
    in one extra untimed round per variant, because tracing slows allocation down.
    """
    n = plan.ops_for(benchmark)
    for _ in range(plan.warmup):
        await run_once(benchmark.raw, n)
        await run_once(benchmark.commons, n)
    raw: list[float] = []
    commons: list[float] = []
    for index in range(plan.rounds_for(benchmark)):
        if index % 2 == 0:
            raw.append(await _timed(benchmark.raw, n))
            commons.append(await _timed(benchmark.commons, n))
        else:
            commons.append(await _timed(benchmark.commons, n))
            raw.append(await _timed(benchmark.raw, n))
    raw_peak = commons_peak = None
    if benchmark.track_memory:
        raw_peak = await _peak_bytes(benchmark.raw, n)
        commons_peak = await _peak_bytes(benchmark.commons, n)
    return Measurement(tuple(raw), tuple(commons), raw_peak, commons_peak)
