"""S3 against a real endpoint: bytes, streams, multipart, metadata, listing, presigned URLs."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from internal_aws import AwsSettings, BucketNotFoundError, ObjectNotFoundError, S3Client
from internal_aws._config import MIB
from internal_base.health import HealthRegistry, HealthStatus


async def test_put_get_and_metadata(s3: S3Client) -> None:
    """Bytes round-trip, and head returns size, ETag, content type and user metadata."""
    etag = await s3.put_bytes("docs/a.txt", b"hello", content_type="text/plain", metadata={"owner": "ada"})
    assert await s3.get_bytes("docs/a.txt") == b"hello"
    info = await s3.head("docs/a.txt")
    assert info.size == 5
    assert info.etag == etag == hashlib.md5(b"hello").hexdigest()  # - S3's ETag
    assert info.content_type == "text/plain"
    assert info.metadata == {"owner": "ada"}
    assert info.last_modified is not None


async def test_stream_yields_chunks(s3: S3Client) -> None:
    """stream() yields the body in chunks no larger than asked."""
    data = bytes(range(256)) * 40
    await s3.put_bytes("blob", data)
    chunks = [chunk async for chunk in s3.stream("blob", chunk_size=1000)]
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) <= 1000
    assert len(chunks) >= 11


async def test_stream_can_stop_early(s3: S3Client) -> None:
    """Closing the stream early releases it; the client keeps working."""
    await s3.put_bytes("blob", b"x" * 10_000)
    async with contextlib.aclosing(s3.stream("blob", chunk_size=100)) as chunks:
        first = await anext(chunks)
    assert first == b"x" * 100
    assert await s3.get_bytes("blob") == b"x" * 10_000


async def test_missing_object_and_bucket(s3: S3Client) -> None:
    """Missing keys raise ObjectNotFoundError and missing buckets BucketNotFoundError."""
    with pytest.raises(ObjectNotFoundError) as info:
        await s3.get_bytes("nope")
    assert info.value.code == "NoSuchKey"
    with pytest.raises(ObjectNotFoundError):
        await s3.head("nope")
    assert not await s3.exists("nope")
    assert not await s3.bucket_exists("no-such-bucket-anywhere-1")
    with pytest.raises(BucketNotFoundError):
        _ = [item async for item in s3.list_objects(bucket="no-such-bucket-anywhere-1")]


async def test_multipart_upload_of_three_parts(s3: S3Client) -> None:
    """15 MiB with 5 MiB parts goes up as a 3-part multipart upload and reads back intact."""
    data = b"".join(bytes([i]) * (5 * MIB) for i in range(3))
    etag = await s3.put_bytes("big.bin", data, content_type="application/octet-stream", metadata={"k": "v"})
    assert etag.endswith("-3")
    info = await s3.head("big.bin")
    assert info.size == 15 * MIB
    assert info.metadata == {"k": "v"}
    assert await s3.get_bytes("big.bin") == data


async def test_upload_and_download_file(s3: S3Client, tmp_path: Path) -> None:
    """A file above the threshold is uploaded multipart and downloaded back atomically."""
    source = tmp_path / "in.bin"
    payload = hashlib.sha256(b"seed").digest() * (6 * MIB // 32)
    source.write_bytes(payload)
    etag = await s3.upload_file("files/in.bin", source)
    assert etag.endswith("-2")
    target = tmp_path / "out.bin"
    assert await s3.download_file("files/in.bin", target) == len(payload)
    assert target.read_bytes() == payload
    assert not (tmp_path / "out.bin.part").exists()


async def test_failed_download_leaves_no_file(s3: S3Client, tmp_path: Path) -> None:
    """Downloading a missing key raises and leaves neither the file nor the .part file."""
    target = tmp_path / "missing.bin"
    with pytest.raises(ObjectNotFoundError):
        await s3.download_file("missing", target)
    assert list(tmp_path.iterdir()) == []


async def test_small_stream_is_a_single_put(s3: S3Client) -> None:
    """A stream below the threshold is stored with one PutObject (plain MD5 ETag)."""
    etag = await s3.upload_stream("small", [b"ab", b"cd"])
    assert etag == hashlib.md5(b"abcd").hexdigest()  # - S3's ETag
    assert await s3.upload_stream("empty", []) == hashlib.md5(b"").hexdigest()
    assert await s3.get_bytes("empty") == b""


async def test_list_paginates_and_delete(s3: S3Client) -> None:
    """Listing walks several pages in key order; delete and delete_many remove objects."""
    for i in range(5):
        await s3.put_bytes(f"p/{i}", b"x" * i)
    await s3.put_bytes("other", b"")
    listed = [summary async for summary in s3.list_objects("p/", page_size=2)]
    assert [item.key for item in listed] == [f"p/{i}" for i in range(5)]
    assert [item.size for item in listed] == [0, 1, 2, 3, 4]
    await s3.delete("p/0")
    assert not await s3.exists("p/0")
    assert await s3.delete_many(["p/1", "p/2", "p/3"]) == 3
    assert [item.key async for item in s3.list_objects()] == ["other", "p/4"]


async def test_presigned_get_and_put_with_httpx(s3: S3Client) -> None:
    """Presigned URLs work with a plain HTTP client and no AWS credentials."""
    await s3.put_bytes("shared.txt", b"shared body")
    get_url = await s3.presigned_get_url("shared.txt", expires_in=60)
    put_url = await s3.presigned_put_url("uploaded.txt", expires_in=60, content_type="text/plain")
    async with httpx.AsyncClient() as http:
        fetched = await http.get(get_url)
        stored = await http.put(put_url, content=b"via presigned put", headers={"Content-Type": "text/plain"})
    assert fetched.status_code == 200
    assert fetched.content == b"shared body"
    assert stored.status_code == 200
    assert await s3.get_bytes("uploaded.txt") == b"via presigned put"
    assert (await s3.head("uploaded.txt")).content_type == "text/plain"


async def test_health_check_reports_bucket(settings: AwsSettings, s3: S3Client, unique_name: str) -> None:
    """The registered check is healthy for an existing bucket and unhealthy for a missing one."""
    registry = HealthRegistry(cache_ttl=0)
    async with S3Client(bucket=unique_name, settings=settings, health_registry=registry):
        report = await registry.readiness()
        assert report.check(f"aws.s3:{unique_name}").status == HealthStatus.HEALTHY
    async with S3Client(bucket="no-such-bucket-anywhere-2", settings=settings, health_registry=registry):
        report = await registry.readiness()
        assert report.status == HealthStatus.UNHEALTHY
        assert "BucketNotFoundError" in (report.check("aws.s3:no-such-bucket-anywhere-2").error or "")
    async with S3Client(settings=settings, health_registry=registry):
        assert (await registry.readiness()).check("aws.s3").status == HealthStatus.HEALTHY


async def test_existing_session_is_reused(settings: AwsSettings, s3: S3Client) -> None:
    """A caller's aioboto3 session is used as given, and the raw client stays reachable."""
    session = s3.credentials.session()
    async with S3Client(bucket=s3.bucket, settings=settings, session=session) as other:
        assert other.session is session
        await other.put_bytes("from-session", b"1")
        response = await other.client.get_object(Bucket=s3.bucket, Key="from-session")
        assert await response["Body"].read() == b"1"


async def test_streamed_multipart_upload(s3: S3Client) -> None:
    """An async stream of small chunks is re-chunked into 5 MiB parts (3 parts for 11 MiB)."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(11):
            yield b"z" * MIB

    etag = await s3.upload_stream("streamed.bin", chunks(), metadata={"origin": "stream"})
    assert etag.endswith("-3")
    assert await s3.exists("streamed.bin")
    assert (await s3.head("streamed.bin")).size == 11 * MIB


async def test_failed_multipart_upload_is_aborted(s3: S3Client) -> None:
    """When the source breaks mid-upload the multipart upload is aborted and no object appears."""

    async def broken() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"a" * (4 * MIB)
        raise OSError("source went away")

    with pytest.raises(OSError, match="source went away"):
        await s3.upload_stream("broken.bin", broken())
    assert not await s3.exists("broken.bin")
    pending = await s3.client.list_multipart_uploads(Bucket=s3.bucket)
    assert pending.get("Uploads", []) == []


async def test_create_bucket_is_idempotent(s3: S3Client) -> None:
    """Creating a bucket this account already owns is not an error."""
    await s3.create_bucket()
    assert await s3.bucket_exists()
