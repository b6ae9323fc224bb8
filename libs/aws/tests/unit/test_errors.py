"""botocore errors are translated into specific AwsError classes at the boundary."""

from __future__ import annotations

import pytest
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ClientError,
    EndpointConnectionError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from internal_aws import (
    AccessDeniedError,
    AlreadyExistsError,
    AwsConfigurationError,
    AwsError,
    AwsTimeoutError,
    AwsUnavailableError,
    BucketNotFoundError,
    ConditionFailedError,
    InvalidRequestError,
    ObjectNotFoundError,
    QueueNotFoundError,
    ThrottlingError,
)
from internal_aws._boto import error_code, is_aws_error, translate
from internal_aws._service import operation_name


def client_error(code: str, status: int = 400, message: str = "boom", **error: str) -> ClientError:
    """A real botocore ClientError as the parser builds it."""
    response = {
        "Error": {"Code": code, "Message": message, **error},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SomeOperation")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, ObjectNotFoundError),
        ("NoSuchBucket", 404, BucketNotFoundError),
        ("ResourceNotFoundException", 400, ObjectNotFoundError),
        ("AWS.SimpleQueueService.NonExistentQueue", 400, QueueNotFoundError),
        ("ConditionalCheckFailedException", 400, ConditionFailedError),
        ("ProvisionedThroughputExceededException", 400, ThrottlingError),
        ("SlowDown", 503, ThrottlingError),
        ("AccessDenied", 403, AccessDeniedError),
        ("InvalidClientTokenId", 403, AccessDeniedError),
        ("ResourceInUseException", 400, AlreadyExistsError),
        ("InternalError", 500, AwsUnavailableError),
        ("ValidationException", 400, InvalidRequestError),
        ("Weird", 302, AwsError),
    ],
)
def test_client_errors(code: str, status: int, expected: type[AwsError]) -> None:
    """Each AWS error code maps to its class, keeping code, status and operation."""
    original = client_error(code, status)
    error = translate(original, "GetThing", not_found=ObjectNotFoundError)
    assert type(error) is expected
    assert (error.code, error.status, error.operation) == (code, status, "GetThing")
    assert str(error).startswith(f"GetThing failed: {code}")
    assert error_code(original) == code


def test_generic_not_found_uses_the_hint() -> None:
    """A bare 404 (HeadBucket) becomes the class the caller names."""
    error = translate(client_error("404", 404, message=""), "HeadBucket", not_found=BucketNotFoundError)
    assert isinstance(error, BucketNotFoundError)
    assert str(error) == "HeadBucket failed: 404"


def test_query_error_code_is_recognised() -> None:
    """SQS JSON errors carry the legacy code in QueryErrorCode."""
    error = translate(client_error("Other", QueryErrorCode="QueueDoesNotExist"), "GetQueueUrl")
    assert isinstance(error, QueueNotFoundError)


def test_condition_failure_keeps_the_item() -> None:
    """The stored item returned with a condition failure is kept on the error."""
    original = client_error("ConditionalCheckFailedException")
    original.response["Item"] = {"pk": {"S": "a"}}
    error = translate(original, "PutItem")
    assert isinstance(error, ConditionFailedError)
    assert error.item == {"pk": {"S": "a"}}


def test_messages_are_redacted() -> None:
    """Secrets inside service messages never reach the error text."""
    error = translate(client_error("Bad", message="password=hunter2 rejected"), "Op")
    assert "hunter2" not in str(error)


def test_connection_and_timeouts_are_builtin_subclasses() -> None:
    """Unreachable endpoints are ConnectionError and timeouts TimeoutError, for retry policies."""
    unreachable = translate(EndpointConnectionError(endpoint_url="http://x"), "ListQueues")
    assert isinstance(unreachable, AwsUnavailableError)
    assert isinstance(unreachable, ConnectionError)
    timeout = translate(ReadTimeoutError(endpoint_url="http://x"), "ReceiveMessage")
    assert isinstance(timeout, AwsTimeoutError)
    assert isinstance(timeout, TimeoutError)


def test_configuration_and_parameter_errors() -> None:
    """Missing region is a configuration error, bad parameters an invalid request."""
    assert isinstance(translate(NoRegionError(), "CreateClient"), AwsConfigurationError)
    assert isinstance(
        translate(ParamValidationError(report="Bucket is required"), "PutObject"), InvalidRequestError
    )
    assert is_aws_error(NoRegionError())
    assert not is_aws_error(ValueError())
    assert error_code(ValueError()) is None


def test_operation_names() -> None:
    """Client method names become API operation names."""
    assert operation_name("get_object") == "GetObject"
    assert operation_name("list_objects_v2") == "ListObjectsV2"
