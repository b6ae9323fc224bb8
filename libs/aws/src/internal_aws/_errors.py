"""Errors raised by internal_aws.

Every error derives from :class:`AwsError`, itself an ``internal_base.errors.CommonsError``.
botocore exceptions (``ClientError`` and the connection/timeout errors) are translated at the
I/O boundary (``raise ... from exc``): the original stays in ``__cause__`` and callers never
import ``botocore.exceptions``::

    CommonsError
    └── AwsError                        any failure of this library (.code, .operation, .status)
        ├── AwsConfigurationError       bad settings or unresolvable credentials (also ValueError)
        ├── AwsUnavailableError         endpoint unreachable, 5xx, or the client's breaker is open
        │                               (also ConnectionError; retryable; .retry_after when known)
        ├── AwsTimeoutError             connect/read timed out (also TimeoutError; retryable)
        ├── ThrottlingError             throttled / over provisioned throughput (retryable)
        ├── AccessDeniedError           bad credentials or missing IAM permission
        ├── InvalidRequestError         the service rejected the parameters (ValidationException ...)
        ├── AwsNotFoundError            a resource does not exist (also LookupError)
        │   ├── BucketNotFoundError     S3 bucket
        │   ├── ObjectNotFoundError     S3 key
        │   ├── QueueNotFoundError      SQS queue
        │   └── TableNotFoundError      DynamoDB table
        ├── AlreadyExistsError          bucket/table/queue exists with another owner or settings
        ├── ConditionFailedError        a DynamoDB condition expression evaluated to false
        ├── AwsSerializationError       a value cannot be converted to/from DynamoDB types (also ValueError)
        └── BatchError                  some entries of a batch still failed after retries (.failed)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from internal_base.errors import CommonsError, ConfigurationError

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AwsConfigurationError",
    "AwsError",
    "AwsNotFoundError",
    "AwsSerializationError",
    "AwsTimeoutError",
    "AwsUnavailableError",
    "BatchError",
    "BucketNotFoundError",
    "CALLER_ERRORS",
    "ConditionFailedError",
    "InvalidRequestError",
    "ObjectNotFoundError",
    "QueueNotFoundError",
    "RETRYABLE_ERRORS",
    "TableNotFoundError",
    "ThrottlingError",
]


class AwsError(CommonsError):
    """Root of every error raised by internal_aws.

    Attributes:
        code: The AWS error code (``"NoSuchKey"``, ``"ThrottlingException"`` ...) or None.
        operation: The API operation (``"GetObject"`` ...) or None.
        status: The HTTP status of the response, or None when there was none.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        operation: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation
        self.status = status


class AwsConfigurationError(AwsError, ConfigurationError):
    """Settings are invalid or credentials cannot be resolved; never shows secret values."""


class AwsUnavailableError(AwsError, ConnectionError):
    """The endpoint could not be reached, answered 5xx, or the client's circuit breaker is open.

    Attributes:
        retry_after: Seconds until a call may succeed when known (an open breaker's remaining
            reset time), else None.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AwsTimeoutError(AwsError, TimeoutError):
    """Connecting to or reading from the endpoint timed out."""


class ThrottlingError(AwsError):
    """The service throttled the request (after botocore's own retries)."""


class AccessDeniedError(AwsError):
    """The credentials are invalid or lack a permission."""


class InvalidRequestError(AwsError):
    """The service rejected the request parameters."""


class AwsNotFoundError(AwsError, LookupError):
    """A bucket, object, queue or table does not exist."""


class BucketNotFoundError(AwsNotFoundError):
    """The S3 bucket does not exist."""


class ObjectNotFoundError(AwsNotFoundError):
    """The S3 object does not exist."""


class QueueNotFoundError(AwsNotFoundError):
    """The SQS queue does not exist."""


class TableNotFoundError(AwsNotFoundError):
    """The DynamoDB table does not exist (or is not active yet)."""


class AlreadyExistsError(AwsError):
    """The resource already exists (owned by someone else, or with other settings)."""


class ConditionFailedError(AwsError):
    """A DynamoDB condition expression evaluated to false; nothing was written.

    Attributes:
        item: The item as stored when the service returned it (``ReturnValuesOnConditionCheckFailure``),
            else None.
    """

    def __init__(self, message: str, *, item: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.item = item


class AwsSerializationError(AwsError, ValueError):
    """A value cannot be converted to or from DynamoDB attribute values."""


class BatchError(AwsError):
    """Some entries of a batch operation still failed after the retries.

    Attributes:
        failed: The entries that were not processed (requests or per-entry failures).
    """

    def __init__(self, message: str, *, failed: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.failed = list(failed)


RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (AwsUnavailableError, AwsTimeoutError, ThrottlingError)
"""Errors a ``RetryPolicy`` may retry: the service is unreachable, failing or throttling."""

CALLER_ERRORS: tuple[type[BaseException], ...] = (
    AccessDeniedError,
    AlreadyExistsError,
    AwsConfigurationError,
    BatchError,
    ConditionFailedError,
    InvalidRequestError,
    AwsNotFoundError,
    AwsSerializationError,
)
"""Errors caused by the request itself: they say nothing about the service's health (breakers skip them)."""
