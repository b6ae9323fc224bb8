"""S3 transfers under stress: concurrent downloads to one path, cancellation, bounded part buffers."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from internal_aws import AwsSettings, ObjectNotFoundError, S3Client
from internal_aws._config import MIB


def pattern(seed: bytes, size: int) -> bytes:
    """``size`` bytes that differ from any other seed's in every 32-byte block."""
    block = hashlib.sha256(seed).digest()
    return block * (size // len(block))


async def test_concurrent_downloads_to_one_path_leave_one_whole_object(s3: S3Client, tmp_path: Path) -> None:
    """Downloads of two objects racing to the same path all succeed and leave exactly one whole object."""
    first, second = pattern(b"first", 3 * MIB), pattern(b"second", 3 * MIB)
    await s3.put_bytes("first", first)
    await s3.put_bytes("second", second)
    target = tmp_path / "out.bin"
    results = await asyncio.gather(
        *(s3.download_file(key, target) for key in ["first", "second", "first", "second"]),
        return_exceptions=True,
    )
    assert results == [3 * MIB] * 4
    assert target.read_bytes() in (first, second)
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


async def test_failed_download_keeps_the_existing_file(s3: S3Client, tmp_path: Path) -> None:
    """A download that fails (missing key) leaves an existing file as it was and no temporary file."""
    target = tmp_path / "keep.txt"
    target.write_bytes(b"precious")
    with pytest.raises(ObjectNotFoundError):
        await s3.download_file("missing", target)
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


async def test_download_onto_a_directory_cleans_up(s3: S3Client, tmp_path: Path) -> None:
    """When the final rename fails (the path is a directory) the error surfaces and no temp file stays."""
    await s3.put_bytes("obj", b"body")
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        await s3.download_file("obj", tmp_path / "dir")
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]
    assert list((tmp_path / "dir").iterdir()) == []


async def test_cancelled_download_never_leaves_a_partial_file(s3: S3Client, tmp_path: Path) -> None:
    """Cancelled at any step, a download leaves either the old file or the new one, never a temp file."""
    body = pattern(b"new", 2 * MIB)
    await s3.put_bytes("obj", body)
    target = tmp_path / "file.bin"
    outcomes: set[str] = set()
    for steps in range(0, 60, 3):
        target.write_bytes(b"old")
        task = asyncio.ensure_future(s3.download_file("obj", target))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            outcomes.add("cancelled")
            assert target.read_bytes() == b"old"
        else:
            outcomes.add("done")
            assert target.read_bytes() == body
        assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
    assert "cancelled" in outcomes


async def test_multipart_upload_holds_at_most_concurrency_parts(
    settings: AwsSettings, aws_session: object, s3: S3Client
) -> None:
    """A streamed multipart upload keeps at most s3_max_concurrency part buffers alive (tracemalloc)."""
    concurrency, parts = 2, 8
    limited = settings.model_copy(update={"s3_max_concurrency": concurrency})

    async def source() -> AsyncIterator[bytes]:
        for index in range(parts * 5):
            yield bytes([index % 251]) * MIB

    async with S3Client(bucket=s3.bucket, settings=limited, session=aws_session) as client:
        await client.put_bytes("warm-up", b"x")
        tracemalloc.start()
        try:
            etag = await client.upload_stream("big.bin", source())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert etag.endswith(f"-{parts}")
    # concurrency parts in flight plus one input chunk and the HTTP stack's buffers: never a third part.
    assert peak < (concurrency + 1) * 5 * MIB, f"peak {peak / MIB:.1f} MiB"


async def test_default_settings_stream_a_file_up_and_down_in_under_32_mib(
    settings: AwsSettings, aws_session: object, s3: S3Client, tmp_path: Path
) -> None:
    """With the default part size and concurrency a 48 MiB file goes up and down with < 32 MiB peak memory."""
    defaults = AwsSettings()
    source = tmp_path / "in.bin"
    with source.open("wb") as handle:
        for index in range(48):
            handle.write(pattern(bytes([index]), MIB))
    stock = settings.model_copy(
        update={
            "s3_part_size": defaults.s3_part_size,
            "s3_multipart_threshold": defaults.s3_multipart_threshold,
        }
    )
    async with S3Client(bucket=s3.bucket, settings=stock, session=aws_session) as client:
        await client.put_bytes("warm-up", b"x")
        tracemalloc.start()
        try:
            etag = await client.upload_file("big.bin", source)
            size = await client.download_file("big.bin", tmp_path / "out.bin")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert etag.endswith("-6")
    assert size == 48 * MIB
    assert peak < 32 * MIB, f"peak {peak / MIB:.1f} MiB"
