"""Multipart upload plumbing: re-chunking a byte stream into parts and uploading them concurrently.

Parts are ``io.BytesIO`` buffers written once and handed to botocore as they are: botocore turns a
``bytes`` body into a ``BytesIO`` and aiohttp then copies it (``getbuffer`` on a shared buffer), so
a ``bytes`` part would be held twice while it is sent.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

__all__ = ["file_chunks", "iterate", "part_size", "rechunk", "slice_parts", "upload_parts"]

_Body = TypeVar("_Body")
_READ_SIZE = 1024 * 1024


async def iterate(source: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncGenerator[bytes, None]:
    """Iterate a sync or async iterable of bytes asynchronously."""
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk


def part_size(part: io.BytesIO) -> int:
    """The number of bytes in ``part`` (without copying it)."""
    with part.getbuffer() as view:
        return view.nbytes


async def rechunk(source: AsyncIterable[bytes], size: int) -> AsyncGenerator[io.BytesIO, None]:
    """Yield parts of exactly ``size`` bytes (the last one may be shorter, never empty).

    Each part is a fresh ``BytesIO`` positioned at 0; input bytes are copied once, into it.
    """
    part = io.BytesIO()
    async for chunk in source:
        view = memoryview(chunk)
        while view:
            room = size - part.tell()
            part.write(view[:room])
            view = view[room:]
            if part.tell() == size:
                part.seek(0)
                yield part
                part = io.BytesIO()
        del view, chunk
    if part.tell():
        part.seek(0)
        yield part


async def slice_parts(data: bytes, size: int) -> AsyncGenerator[io.BytesIO, None]:
    """``data`` as parts of ``size`` bytes, each copied only when it is about to be uploaded."""
    whole = memoryview(data)
    for start in range(0, len(data), size):
        yield io.BytesIO(whole[start : start + size])


async def file_chunks(path: str | os.PathLike[str], size: int = _READ_SIZE) -> AsyncGenerator[bytes, None]:
    """Read ``path`` in pieces of ``size`` bytes without blocking the event loop."""
    handle = await asyncio.to_thread(Path(path).open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def upload_parts(
    parts: AsyncIterable[_Body],
    upload: Callable[[int, _Body], Awaitable[str]],
    *,
    concurrency: int,
) -> list[tuple[int, str]]:
    """Upload ``parts`` with at most ``concurrency`` in flight, and so in memory, at a time.

    The next part is only read from ``parts`` once a slot is free: a part waiting for a slot
    would be one more buffer alive.

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
    source = aiter(parts)

    async def one(number: int, body: _Body) -> tuple[int, str]:
        try:
            return number, await upload(number, body)
        finally:
            slots.release()

    try:
        number = 0
        while True:
            await slots.acquire()
            failed = next((task for task in tasks if task.done() and task.exception() is not None), None)
            if failed is not None:
                slots.release()
                await failed
            body = await anext(source, None)
            if body is None:
                slots.release()
                break
            number += 1
            tasks.append(asyncio.create_task(one(number, body)))
            del body
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return sorted(results)
