"""Runs the selected suites in one process and one event loop, and collects their rows."""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from commons_bench._benchmark import BenchContext, Benchmark, Runner
from commons_bench._registry import Library, load_suite
from commons_bench._result import Result
from commons_bench._services import ServiceUnavailable, delete_prefixed_keys, probe_redis
from commons_bench._timing import Plan, measure, run_once

__all__ = ["Selection", "run_libraries"]


@dataclass(frozen=True)
class Selection:
    """What to run and how.

    Attributes:
        plan: Rounds, warm-up and operation counts.
        match: Only benchmarks whose operation contains this text (case-insensitive), if set.
        profile: Profile the benchmarks whose operation contains this text, if set (to stderr).
        timeout: Seconds after which one benchmark is abandoned as an error (never a hang).
    """

    plan: Plan
    match: str | None = None
    profile: str | None = None
    timeout: float = 180.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _contains(text: str, needle: str | None) -> bool:
    return needle is None or needle.lower() in text.lower()


async def _profile(label: str, runner: Runner, n: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await run_once(runner, n)
    finally:
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(25)
    _say(f"--- profile: {label} ({n} ops, sorted by own time) ---\n{out.getvalue()}")


async def _run_benchmark(library: str, benchmark: Benchmark, selection: Selection) -> Result:
    started = time.perf_counter()
    try:
        measurement = await asyncio.wait_for(measure(benchmark, selection.plan), selection.timeout)
    except TimeoutError:
        problem = f"did not finish within {selection.timeout:.0f} s"
        _say(f"[{library}] {benchmark.operation}: {problem}")
        return Result.failed(library, benchmark.operation, problem)
    except Exception as exc:  # a broken benchmark is a row, not the end of the run
        _say(f"[{library}] {benchmark.operation}: {type(exc).__name__}: {exc}")
        return Result.failed(library, benchmark.operation, f"{type(exc).__name__}: {exc}")
    result = Result.measured(library, benchmark, measurement)
    target = benchmark.target
    verdict = target.describe_value(measurement) if target else f"{measurement.cost_ratio:.2f}x cost"
    elapsed = time.perf_counter() - started
    _say(f"[{library}] {benchmark.operation}: {verdict} → {result.status.value} ({elapsed:.1f} s)")
    if _contains(benchmark.operation, selection.profile) and selection.profile is not None:
        n = selection.plan.ops_for(benchmark)
        await _profile(f"{library} / {benchmark.operation} / raw", benchmark.raw, n)
        await _profile(f"{library} / {benchmark.operation} / commons", benchmark.commons, n)
    return result


async def _run_library(library: Library, ctx: BenchContext, selection: Selection) -> list[Result]:
    if library.needs_redis:
        try:
            await probe_redis(ctx.redis_url)
        except ServiceUnavailable as exc:
            _say(f"[{library.name}] skipped: {exc}")
            return [Result.failed(library.name, "(all benchmarks)", str(exc), skipped=True)]
    results: list[Result] = []
    try:
        suite = load_suite(library)
        async with suite(ctx) as benchmarks:
            for benchmark in benchmarks:
                if _contains(benchmark.operation, selection.match):
                    results.append(await _run_benchmark(library.name, benchmark, selection))
    except Exception as exc:  # set-up or tear-down failed: report it and go on with the next library
        _say(f"[{library.name}] suite failed: {type(exc).__name__}: {exc}")
        problem = f"{type(exc).__name__}: {exc}"
        results.append(Result.failed(library.name, "(suite set-up/tear-down)", problem))
    finally:
        if library.needs_redis:
            await _clean_up(library.name, ctx)
    return results


async def _clean_up(library: str, ctx: BenchContext) -> None:
    try:
        await delete_prefixed_keys(ctx.redis_url, ctx.key_prefix)
    except (OSError, RedisError) as exc:  # Redis went away mid-run: say so, keep the rows
        _say(f"[{library}] could not delete keys under {ctx.key_prefix!r}: {type(exc).__name__}: {exc}")


async def run_libraries(
    libraries: Sequence[Library], ctx: BenchContext, selection: Selection
) -> list[Result]:
    """Run each library's suite in turn (in this event loop) and return every row."""
    results: list[Result] = []
    for library in libraries:
        results += await _run_library(library, ctx, selection)
    return results
