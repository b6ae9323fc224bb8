"""The botocore boundary: client configuration and translation of botocore errors into ``AwsError``.

This is the only module that imports ``botocore``; it has no type information, so ``Any`` stays here.
"""

from __future__ import annotations

from typing import Any, Final

from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
    ConfigNotFound,
    ConfigParseError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,  # type: ignore[import-untyped, unused-ignore]
)

from internal_aws._config import AwsSettings
from internal_aws._errors import (
    AccessDeniedError,
    AlreadyExistsError,
    AwsConfigurationError,
    AwsError,
    AwsNotFoundError,
    AwsTimeoutError,
    AwsUnavailableError,
    BucketNotFoundError,
    ConditionFailedError,
    InvalidRequestError,
    ObjectNotFoundError,
    QueueNotFoundError,
    ThrottlingError,
)
from internal_base.redaction import redact_text

__all__ = ["client_config", "error_code", "is_aws_error", "translate"]

_NOT_FOUND: Final = frozenset({"404", "NotFound", "NoSuchUpload", "ResourceNotFoundException"})
_QUEUE_NOT_FOUND: Final = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)
_ACCESS_DENIED: Final = frozenset(
    {
        "403",
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_THROTTLED: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ThrottledException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
_EXISTS: Final = frozenset(
    {"BucketAlreadyExists", "QueueAlreadyExists", "QueueNameExists", "ResourceInUseException"}
)
_CONDITION: Final = frozenset({"ConditionalCheckFailedException", "PreconditionFailed"})
_UNAVAILABLE: Final = frozenset(
    {"InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable", "Unavailable"}
)
_CONFIG_ERRORS: Final = (
    ConfigNotFound,
    ConfigParseError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)


def client_config(settings: AwsSettings, service: str) -> Any:
    """The botocore ``Config`` of a client of ``service``.

    Args:
        settings: Timeouts, retries and pool size.
        service: ``"s3"`` adds SigV4 signing (needed by presigned URLs) and the addressing style.
    """
    options: dict[str, Any] = {
        "connect_timeout": settings.connect_timeout,
        "read_timeout": settings.read_timeout,
        "max_pool_connections": settings.max_pool_connections,
        "retries": {
            # One attempt: the client's ResiliencePolicy is the one retry loop (never retried twice over).
            "mode": "standard",
            "total_max_attempts": 1,
        },
        "user_agent_extra": "internal-aws",
    }
    if service == "s3":
        options["signature_version"] = "s3v4"
        options["s3"] = {"addressing_style": settings.s3_addressing_style}
    return Config(**options)


def is_aws_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from botocore (and so must be translated)."""
    return isinstance(exc, ClientError | BotoCoreError)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for anything else)."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def _client_error(
    exc: Any, operation: str, not_found: type[AwsNotFoundError], item: dict[str, Any] | None
) -> AwsError:
    response: dict[str, Any] = exc.response
    error: dict[str, Any] = response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    query_code = str(error.get("QueryErrorCode", ""))
    status_raw = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    status = int(status_raw) if status_raw is not None else None
    detail = redact_text(str(error.get("Message") or "")).strip()
    message = f"{operation} failed: {code}" + (f": {detail}" if detail else "")
    kwargs: dict[str, Any] = {"code": code, "operation": operation, "status": status}
    if code in _QUEUE_NOT_FOUND or query_code in _QUEUE_NOT_FOUND:
        return QueueNotFoundError(message, **kwargs)
    if code == "NoSuchBucket":
        return BucketNotFoundError(message, **kwargs)
    if code == "NoSuchKey":
        return ObjectNotFoundError(message, **kwargs)
    if code in _NOT_FOUND:
        return not_found(message, **kwargs)
    if code in _CONDITION:
        stored = item if item is not None else response.get("Item")
        return ConditionFailedError(message, item=stored, **kwargs)
    if code in _THROTTLED:
        return ThrottlingError(message, **kwargs)
    if code in _ACCESS_DENIED:
        return AccessDeniedError(message, **kwargs)
    if code in _EXISTS or query_code in _EXISTS:
        return AlreadyExistsError(message, **kwargs)
    if code in _UNAVAILABLE or (status is not None and status >= 500):
        return AwsUnavailableError(message, **kwargs)
    if status is not None and 400 <= status < 500:
        return InvalidRequestError(message, **kwargs)
    return AwsError(message, **kwargs)


def translate(
    exc: BaseException,
    operation: str,
    *,
    not_found: type[AwsNotFoundError] = AwsNotFoundError,
    item: dict[str, Any] | None = None,
) -> AwsError:
    """Translate a botocore exception into the matching ``AwsError`` subclass.

    Args:
        exc: The botocore ``ClientError`` or ``BotoCoreError``.
        operation: API operation name used in the message (``"GetObject"``).
        not_found: Class for generic "not found" codes (``404``, ``ResourceNotFoundException``).
        item: For condition failures, the stored item (already deserialized) if the service returned it.
    """
    if isinstance(exc, ClientError):
        return _client_error(exc, operation, not_found, item)
    text = redact_text(str(exc))
    message = f"{operation} failed: {text}"
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return AwsTimeoutError(message, operation=operation)
    if isinstance(exc, EndpointConnectionError | BotoConnectionError | ConnectionClosedError):
        return AwsUnavailableError(message, operation=operation)
    if isinstance(exc, _CONFIG_ERRORS):
        return AwsConfigurationError(message, operation=operation)
    if isinstance(exc, ParamValidationError):
        return InvalidRequestError(message, operation=operation)
    return AwsError(message, operation=operation)
