"""Helpers for suites: spread ``n`` operations over concurrent tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["run_concurrently", "run_sequentially"]


async def run_sequentially(n: int, op: Callable[[int], Awaitable[object]]) -> None:
    """Await ``op(0)``, ..., ``op(n - 1)`` one after another."""
    for index in range(n):
        await op(index)


async def run_concurrently(n: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> None:
    """Await ``op(i)`` for ``i`` in ``range(n)`` from ``concurrency`` tasks, each running its share in turn.

    Every index runs exactly once; the first ``n % concurrency`` tasks take one extra operation.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")

    async def worker(start: int) -> None:
        for index in range(start, n, concurrency):
            await op(index)

    await asyncio.gather(*(worker(start) for start in range(min(concurrency, n))))
