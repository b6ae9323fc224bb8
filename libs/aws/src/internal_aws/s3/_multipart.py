"""Multipart upload plumbing: re-chunking a byte stream into parts and uploading them concurrently."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from pathlib import Path

__all__ = ["file_chunks", "iterate", "rechunk", "upload_parts"]


async def iterate(source: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncGenerator[bytes, None]:
    """Iterate a sync or async iterable of bytes asynchronously."""
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk


async def rechunk(source: AsyncIterable[bytes], size: int) -> AsyncGenerator[bytes, None]:
    """Yield pieces of exactly ``size`` bytes (the last one may be shorter, never empty)."""
    buffer = bytearray()
    async for chunk in source:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


async def file_chunks(path: str | os.PathLike[str], size: int) -> AsyncGenerator[bytes, None]:
    """Read ``path`` in pieces of ``size`` bytes without blocking the event loop."""
    handle = await asyncio.to_thread(Path(path).open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def upload_parts(
    parts: AsyncIterable[bytes],
    upload: Callable[[int, bytes], Awaitable[str]],
    *,
    concurrency: int,
) -> list[tuple[int, str]]:
    """Upload ``parts`` with at most ``concurrency`` in flight (and so in memory) at a time.

    Args:
        parts: The part bodies, in order.
        upload: ``upload(part_number, body) -> etag`` for one part (numbers start at 1).
        concurrency: Parts uploaded at the same time.

    Returns:
        ``(part_number, etag)`` pairs sorted by part number.

    Raises:
        Exception: The first failure; the other uploads in flight are cancelled first.
    """
    slots = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task[tuple[int, str]]] = []

    async def one(number: int, body: bytes) -> tuple[int, str]:
        try:
            return number, await upload(number, body)
        finally:
            slots.release()

    try:
        number = 0
        async for body in parts:
            await slots.acquire()
            failed = [task for task in tasks if task.done() and task.exception() is not None]
            if failed:
                slots.release()
                await failed[0]
            number += 1
            tasks.append(asyncio.create_task(one(number, body)))
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return sorted(results)
