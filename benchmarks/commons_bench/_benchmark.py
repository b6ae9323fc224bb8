"""The one interface through which a library contributes benchmark rows.

A library's ``libs/<lib>/benchmarks/bench_<lib>.py`` defines ``suite``: a callable that takes a
:class:`BenchContext` and returns an async context manager yielding :class:`Benchmark` objects. The
context manager owns the set-up the benchmarks share (clients, servers, keys) and tears it down after
the harness has measured them::

    @contextlib.asynccontextmanager
    async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
        raw = redis.asyncio.Redis.from_url(ctx.redis_url)
        ...
        yield [Benchmark("GET sequential", raw=raw_gets, commons=commons_gets, ops=2_000,
                         target=Target.throughput_ratio(0.9))]
        await raw.aclose()

Each runner receives ``n`` and performs ``n`` operations (sync, or a coroutine function); the harness
times whole calls, interleaves raw and commons rounds and divides by ``n``. A runner that measures its
operations itself (e.g. the summed acquire latency of concurrent lock contenders) returns those seconds
as a ``float``, and the harness divides that by ``n`` instead of the call's wall time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from commons_bench._target import Target

__all__ = ["BenchContext", "Benchmark", "CurvePoint", "Runner", "Suite"]

Runner = Callable[[int], Awaitable[object] | object]
"""Performs ``n`` operations of one variant; may be sync or async; may return its own seconds (float)."""


@dataclass(frozen=True)
class CurvePoint:
    """Places a benchmark on a curve (a target about growth), e.g. lock latency by contenders.

    Attributes:
        curve: The curve's title; benchmarks sharing it form one small table, sorted by ``x``.
        x_label: What ``x`` counts (e.g. ``"contenders"``, ``"page depth"``).
        x: This point's position on the curve.
    """

    curve: str
    x_label: str
    x: float


@dataclass(frozen=True)
class Benchmark:
    """One row: the same operation through the raw library and through commons.

    Attributes:
        operation: What one operation is (e.g. ``"GET, 50 concurrent tasks"``).
        raw: Runs ``n`` operations on the raw library.
        commons: Runs ``n`` operations through the commons library.
        target: The promise to judge, or ``None`` for an informational row (e.g. most curve points).
        ops: Operations per timed round in a full run (``--quick`` runs a tenth, at least ``min_ops``).
        min_ops: The fewest operations per round that still measure the right thing (e.g. one per
            contender on a contention curve).
        rounds: Timed rounds per variant, overriding the harness default.
        unit: Name of one operation in the report (``"op"``, ``"GET"``, ``"pipeline"``).
        track_memory: Also measure each variant's peak traced memory (one extra, untimed round each).
        memory_limit: When set, commons peak memory may be at most this x raw peak memory.
        curve: Where this benchmark sits on a curve; curve points are reported in their own tables.
        note: A short remark shown under the table (e.g. what the raw variant is).
    """

    operation: str
    raw: Runner
    commons: Runner
    target: Target | None = None
    ops: int = 1_000
    min_ops: int = 1
    rounds: int | None = None
    unit: str = "op"
    track_memory: bool = False
    memory_limit: float | None = None
    curve: CurvePoint | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.min_ops <= self.ops:
            raise ValueError(f"{self.operation}: need 1 <= min_ops <= ops")
        if self.rounds is not None and self.rounds < 1:
            raise ValueError(f"{self.operation}: rounds must be at least 1")
        if self.memory_limit is not None and not self.track_memory:
            raise ValueError(f"{self.operation}: memory_limit needs track_memory=True")


@dataclass(frozen=True)
class BenchContext:
    """What the harness hands every suite.

    Attributes:
        quick: A smoke run (``--quick``): suites may shrink their set-up (e.g. fewer curve points).
        redis_url: The Redis server to benchmark against (``COMMONS_REDIS_URL``).
        key_prefix: Prefix for every key a suite writes; the harness deletes ``key_prefix*`` afterwards.
    """

    quick: bool
    redis_url: str
    key_prefix: str


Suite = Callable[[BenchContext], AbstractAsyncContextManager[Sequence[Benchmark]]]
"""A library's contribution: set-up around the benchmarks it yields."""
