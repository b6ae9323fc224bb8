"""Async S3 client: bytes, files, streams, multipart, metadata, listing, presigned URLs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import secrets
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from opentelemetry.util.types import AttributeValue

from internal_aws._boto import is_aws_error, translate
from internal_aws._errors import (
    AwsConfigurationError,
    AwsError,
    AwsNotFoundError,
    BatchError,
    BucketNotFoundError,
    ObjectNotFoundError,
)
from internal_aws._service import ServiceClient
from internal_aws.s3._multipart import file_chunks, iterate, part_size, rechunk, slice_parts, upload_parts
from internal_aws.s3._types import ObjectInfo, ObjectSummary

__all__ = ["S3Client"]

_log = logging.getLogger("internal_aws.s3")
_DELETE_BATCH = 1000


def _object_params(
    content_type: str | None, metadata: Mapping[str, str] | None, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    params: dict[str, Any] = dict(extra or {})
    if content_type is not None:
        params["ContentType"] = content_type
    if metadata:
        params["Metadata"] = {str(k): str(v) for k, v in metadata.items()}
    return params


async def _discard(opening: asyncio.Future[Any], partial: Path) -> None:
    """Close and remove an unfinished download's temporary file (once its opening has finished)."""
    try:
        handle = await opening
    except Exception:  # never opened: nothing to close or remove
        return
    await asyncio.to_thread(handle.close)
    await asyncio.to_thread(partial.unlink, missing_ok=True)


class S3Client(ServiceClient):
    """S3 operations on a default bucket (every method also takes ``bucket=`` to override it).

    Example::

        async with S3Client(bucket="reports", settings=AwsSettings(region="eu-west-1")) as s3:
            await s3.put_bytes("a.txt", b"hello", content_type="text/plain")
            url = await s3.presigned_get_url("a.txt", expires_in=300)

    Args:
        bucket: Default bucket of every operation.
        **options: See :class:`~internal_aws._service.ServiceClient` (settings, session,
            credentials, policy, health).
    """

    service: ClassVar[str] = "s3"
    not_found: ClassVar[type[AwsNotFoundError]] = ObjectNotFoundError

    def __init__(self, *, bucket: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.bucket = bucket

    def _bucket(self, bucket: str | None) -> str:
        chosen = bucket or self.bucket
        if not chosen:
            raise AwsConfigurationError("no bucket: pass bucket= to S3Client or to the call")
        return chosen

    def _span_attributes(self, params: Mapping[str, Any]) -> dict[str, AttributeValue]:
        """``aws.s3.bucket`` and ``aws.s3.key`` of the call."""
        attributes: dict[str, AttributeValue] = {}
        if isinstance(params.get("Bucket"), str):
            attributes["aws.s3.bucket"] = params["Bucket"]
        if isinstance(params.get("Key"), str):
            attributes["aws.s3.key"] = params["Key"]
        return attributes

    def health_check_name(self) -> str:
        """``aws.s3:<bucket>`` (or ``aws.s3`` without a default bucket)."""
        return f"aws.s3:{self.bucket}" if self.bucket else "aws.s3"

    async def ping(self) -> None:
        """HeadBucket on the default bucket (ListBuckets without one)."""
        if self.bucket:
            await self._call("head_bucket", Bucket=self.bucket, not_found=BucketNotFoundError)
        else:
            await self._call("list_buckets")

    # -- buckets -------------------------------------------------------------------------------

    async def create_bucket(self, bucket: str | None = None) -> None:
        """Create the bucket in the client's region (no error if this account already owns it)."""
        name = self._bucket(bucket)
        params: dict[str, Any] = {"Bucket": name}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await self._call("create_bucket", **params)
        except AwsError as exc:
            if exc.code != "BucketAlreadyOwnedByYou":
                raise

    async def delete_bucket(self, bucket: str | None = None, *, empty: bool = False) -> None:
        """Delete the bucket; with ``empty=True`` delete every object in it first."""
        name = self._bucket(bucket)
        if empty:
            keys = [summary.key async for summary in self.list_objects(bucket=name)]
            await self.delete_many(keys, bucket=name)
        await self._call("delete_bucket", Bucket=name, not_found=BucketNotFoundError)

    async def bucket_exists(self, bucket: str | None = None) -> bool:
        """Whether the bucket exists (and is reachable with these credentials)."""
        try:
            await self._call("head_bucket", Bucket=self._bucket(bucket), not_found=BucketNotFoundError)
        except BucketNotFoundError:
            return False
        return True

    # -- writing -------------------------------------------------------------------------------

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        bucket: str | None = None,
    ) -> str:
        """Store ``data`` under ``key``; multipart from ``settings.s3_multipart_threshold`` bytes.

        Args:
            key: Object key.
            data: The whole body.
            content_type: MIME type stored with the object.
            metadata: User metadata (``x-amz-meta-*``).
            extra: Further ``PutObject``/``CreateMultipartUpload`` parameters (``CacheControl`` ...).
            bucket: Overrides the default bucket.

        Returns:
            The ETag of the new object (without quotes).
        """
        params = _object_params(content_type, metadata, extra)
        if len(data) >= self.settings.s3_multipart_threshold:
            parts = slice_parts(data, self.settings.s3_part_size)
            return await self._multipart(self._bucket(bucket), key, parts, params)
        response = await self._call("put_object", Bucket=self._bucket(bucket), Key=key, Body=data, **params)
        return str(response.get("ETag", "")).strip('"')

    async def upload_stream(
        self,
        key: str,
        source: AsyncIterable[bytes] | Iterable[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        bucket: str | None = None,
    ) -> str:
        """Store a stream of chunks of any size; bodies past the threshold go up as multipart.

        At most ``s3_max_concurrency`` parts of ``s3_part_size`` bytes are held in memory.

        Returns:
            The ETag of the new object.
        """
        name = self._bucket(bucket)
        params = _object_params(content_type, metadata, extra)
        parts = rechunk(iterate(source), self.settings.s3_part_size)
        head: list[io.BytesIO] = []
        while len(head) < 2 and (part := await anext(parts, None)) is not None:
            head.append(part)
        del part
        if len(head) < 2 and (not head or part_size(head[0]) < self.settings.s3_multipart_threshold):
            await parts.aclose()
            body = head[0] if head else b""
            response = await self._call("put_object", Bucket=name, Key=key, Body=body, **params)
            return str(response.get("ETag", "")).strip('"')

        async def chained() -> AsyncGenerator[io.BytesIO, None]:
            while head:  # popped, so a part sent is not kept alive here
                yield head.pop(0)
            async for part in parts:
                yield part

        return await self._multipart(name, key, chained(), params)

    async def upload_file(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        bucket: str | None = None,
    ) -> str:
        """Upload a local file (multipart past the threshold) without loading it whole into memory.

        Returns:
            The ETag of the new object.
        """
        chunks = file_chunks(path)
        return await self.upload_stream(
            key, chunks, content_type=content_type, metadata=metadata, extra=extra, bucket=bucket
        )

    async def _multipart(
        self, bucket: str, key: str, parts: AsyncGenerator[io.BytesIO, None], params: dict[str, Any]
    ) -> str:
        created = await self._call("create_multipart_upload", Bucket=bucket, Key=key, **params)
        upload_id = str(created["UploadId"])

        async def upload(number: int, body: io.BytesIO) -> str:
            try:
                response = await self._call(
                    "upload_part", Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
            finally:
                # Free the buffer now: the HTTP stack may keep the request in a cycle until the next GC.
                body.close()
            return str(response["ETag"])

        try:
            done = await upload_parts(parts, upload, concurrency=self.settings.s3_max_concurrency)
            response = await self._call(
                "complete_multipart_upload",
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in done]},
            )
        except BaseException:
            await asyncio.shield(self._abort(bucket, key, upload_id))
            raise
        finally:
            await parts.aclose()
        _log.debug("multipart upload of s3://%s/%s done in %d parts", bucket, key, len(done))
        return str(response.get("ETag", "")).strip('"')

    async def _abort(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            await self._call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:
            _log.warning("could not abort multipart upload of s3://%s/%s", bucket, key, exc_info=True)

    # -- reading -------------------------------------------------------------------------------

    async def get_bytes(self, key: str, *, bucket: str | None = None) -> bytes:
        """The whole body of ``key``.

        Raises:
            ObjectNotFoundError: No such key.
        """
        return b"".join([chunk async for chunk in self.stream(key, bucket=bucket)])

    async def stream(
        self, key: str, *, chunk_size: int = 1024 * 1024, bucket: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Yield the body of ``key`` in chunks of at most ``chunk_size`` bytes.

        Stop early with ``contextlib.aclosing(s3.stream(key))`` so that the connection is released.

        Raises:
            ObjectNotFoundError: No such key.
        """
        response = await self._call("get_object", Bucket=self._bucket(bucket), Key=key)
        body = response["Body"]
        try:
            while True:
                try:
                    chunk = await body.read(chunk_size)
                except Exception as exc:
                    if is_aws_error(exc):
                        raise translate(exc, "GetObject") from exc
                    raise
                if not chunk:
                    break
                yield bytes(chunk)
        finally:
            body.close()

    async def download_file(
        self, key: str, path: str | os.PathLike[str], *, bucket: str | None = None
    ) -> int:
        """Stream ``key`` into ``path`` atomically.

        The body is written to a temporary file of a unique name in the same directory, which is
        then renamed over ``path``: concurrent downloads to one path each leave a whole object (the
        last rename wins), and a download that fails or is cancelled removes its temporary file
        and leaves an existing ``path`` as it was.

        Returns:
            The number of bytes written.

        Raises:
            ObjectNotFoundError: No such key (``path`` is left alone).
            OSError: The file could not be written or renamed.
        """
        target = Path(path)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(8)}.part")
        written = 0
        # Mode "xb": a name collision fails instead of sharing a file with another download.
        opening = asyncio.ensure_future(asyncio.to_thread(partial.open, "xb"))
        try:
            handle = await asyncio.shield(opening)  # when cancelled here, _discard still closes it
            async with contextlib.aclosing(self.stream(key, bucket=bucket)) as chunks:
                async for chunk in chunks:
                    await asyncio.to_thread(handle.write, chunk)
                    written += len(chunk)
            await asyncio.to_thread(handle.close)
            # Synchronous on purpose: a rename within one directory is one quick system call, and
            # with no await after it a cancellation cannot land once the new file is in place (a
            # cancelled download would otherwise report failure yet leave the new file).
            partial.replace(target)
        except BaseException:
            # Shielded: a second cancellation must not leave the temporary file behind.
            await asyncio.shield(_discard(opening, partial))
            raise
        return written

    async def head(self, key: str, *, bucket: str | None = None) -> ObjectInfo:
        """Size, ETag, content type and user metadata of ``key``.

        Raises:
            ObjectNotFoundError: No such key.
        """
        response = await self._call("head_object", Bucket=self._bucket(bucket), Key=key)
        return ObjectInfo.from_head(key, response)

    async def exists(self, key: str, *, bucket: str | None = None) -> bool:
        """Whether ``key`` exists."""
        try:
            await self.head(key, bucket=bucket)
        except ObjectNotFoundError:
            return False
        return True

    async def list_objects(
        self, prefix: str = "", *, page_size: int = 1000, bucket: str | None = None
    ) -> AsyncIterator[ObjectSummary]:
        """Yield every object under ``prefix`` in key order, fetching ``page_size`` keys per request.

        Raises:
            BucketNotFoundError: No such bucket.
        """
        params: dict[str, Any] = {"Bucket": self._bucket(bucket), "Prefix": prefix, "MaxKeys": page_size}
        while True:
            page = await self._call("list_objects_v2", not_found=BucketNotFoundError, **params)
            for entry in page.get("Contents", []):
                yield ObjectSummary.from_listing(entry)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            params["ContinuationToken"] = token

    # -- deleting ------------------------------------------------------------------------------

    async def delete(self, key: str, *, bucket: str | None = None) -> None:
        """Delete ``key`` (no error when it does not exist, as in S3)."""
        await self._call("delete_object", Bucket=self._bucket(bucket), Key=key)

    async def delete_many(self, keys: Sequence[str], *, bucket: str | None = None) -> int:
        """Delete ``keys`` in batches of 1000.

        Returns:
            The number of keys deleted.

        Raises:
            BatchError: Some keys could not be deleted; ``failed`` holds ``{"Key", "Code", "Message"}``.
        """
        name = self._bucket(bucket)
        failed: list[dict[str, Any]] = []
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            response = await self._call(
                "delete_objects",
                Bucket=name,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            failed.extend(response.get("Errors", []))
        if failed:
            raise BatchError(f"{len(failed)} of {len(keys)} keys were not deleted", failed=failed)
        return len(keys)

    # -- presigned URLs ------------------------------------------------------------------------

    async def presigned_get_url(
        self, key: str, *, expires_in: int | None = None, bucket: str | None = None
    ) -> str:
        """A SigV4 URL that lets anyone GET ``key`` until it expires.

        Args:
            key: Object key.
            expires_in: Lifetime in seconds (default ``settings.presign_expires``).
            bucket: Overrides the default bucket.
        """
        return await self._presign("get_object", {"Bucket": self._bucket(bucket), "Key": key}, expires_in)

    async def presigned_put_url(
        self,
        key: str,
        *,
        expires_in: int | None = None,
        content_type: str | None = None,
        bucket: str | None = None,
    ) -> str:
        """A SigV4 URL that lets anyone PUT a body to ``key`` until it expires.

        With ``content_type`` the uploader must send exactly that ``Content-Type`` header.
        """
        params: dict[str, Any] = {"Bucket": self._bucket(bucket), "Key": key}
        if content_type is not None:
            params["ContentType"] = content_type
        return await self._presign("put_object", params, expires_in)

    async def _presign(self, method: str, params: dict[str, Any], expires_in: int | None) -> str:
        lifetime = self.settings.presign_expires if expires_in is None else expires_in
        if not 1 <= lifetime <= 7 * 24 * 3600:
            raise AwsConfigurationError(f"expires_in must be between 1 s and 7 days, got {lifetime}")
        try:
            url = await self.client.generate_presigned_url(method, Params=params, ExpiresIn=lifetime)
        except Exception as exc:
            if is_aws_error(exc):
                raise translate(exc, "GeneratePresignedUrl") from exc
            raise
        return str(url)
