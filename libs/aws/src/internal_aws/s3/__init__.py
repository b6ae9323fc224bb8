"""S3: upload/download bytes, files and streams, multipart, metadata, listing, presigned URLs."""

from __future__ import annotations

from internal_aws.s3._client import S3Client
from internal_aws.s3._types import ObjectInfo, ObjectSummary

__all__ = ["ObjectInfo", "ObjectSummary", "S3Client"]
