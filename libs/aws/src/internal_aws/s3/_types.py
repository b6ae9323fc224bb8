"""Values returned by the S3 client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["ObjectInfo", "ObjectSummary"]


def _etag(value: object) -> str:
    return str(value or "").strip('"')


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """One entry of a listing.

    Attributes:
        key: Object key.
        size: Size in bytes.
        etag: Entity tag without quotes.
        last_modified: Time of the last write (UTC), when the service reported it.
    """

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None

    @classmethod
    def from_listing(cls, entry: Mapping[str, Any]) -> ObjectSummary:
        """Build from one ``Contents`` entry of ``ListObjectsV2``."""
        return cls(
            key=str(entry["Key"]),
            size=int(entry.get("Size", 0)),
            etag=_etag(entry.get("ETag")),
            last_modified=entry.get("LastModified"),
        )


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An object's metadata (``HeadObject``).

    Attributes:
        key: Object key.
        size: Size in bytes.
        etag: Entity tag without quotes (multipart uploads end in ``-<parts>``).
        content_type: MIME type, when set.
        last_modified: Time of the last write (UTC).
        metadata: User metadata (``x-amz-meta-*``), keys lowercased by S3.
        version_id: Version, in versioned buckets.
    """

    key: str
    size: int
    etag: str
    content_type: str | None = None
    last_modified: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version_id: str | None = None

    @classmethod
    def from_head(cls, key: str, response: Mapping[str, Any]) -> ObjectInfo:
        """Build from a ``HeadObject`` (or ``GetObject``) response."""
        return cls(
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=_etag(response.get("ETag")),
            content_type=response.get("ContentType"),
            last_modified=response.get("LastModified"),
            metadata={str(k): str(v) for k, v in (response.get("Metadata") or {}).items()},
            version_id=response.get("VersionId"),
        )
