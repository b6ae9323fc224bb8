"""internal_aws: async S3, DynamoDB and SQS clients and an SQS consumer on aioboto3.

Example::

    from internal_aws import AwsSettings, S3Client, SqsClient, SqsConsumer

    settings = AwsSettings.load()            # COMMONS_AWS_* env vars and the "aws" YAML section
    async with S3Client(bucket="reports", settings=settings) as s3:
        await s3.put_bytes("hello.txt", b"hi", content_type="text/plain")

Every client takes ``settings``, an existing ``session`` (``aioboto3.Session``), ``credentials``,
an optional ``internal_base`` ``ResiliencePolicy`` and a health ``registry``; ``client.raw`` is the
underlying aiobotocore client. Errors are ``AwsError`` subclasses (see ``internal_aws._errors``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from internal_aws._errors import (
    CALLER_ERRORS,
    RETRYABLE_ERRORS,
    AccessDeniedError,
    AlreadyExistsError,
    AwsConfigurationError,
    AwsConnectionError,
    AwsError,
    AwsTimeoutError,
    BatchError,
    BucketNotFoundError,
    ConditionFailedError,
    InvalidRequestError,
    NotFoundError,
    ObjectNotFoundError,
    QueueNotFoundError,
    SerializationError,
    TableNotFoundError,
    ThrottlingError,
)
from internal_aws._service import ServiceClient
from internal_aws._settings import AwsSettings
from internal_aws.credentials import AwsCredentials, CredentialSource
from internal_aws.dynamodb import DynamoTable, NumberMode, Page, deserialize_item, serialize_item
from internal_aws.s3 import ObjectInfo, ObjectSummary, S3Client
from internal_aws.sqs import (
    BatchFailure,
    BatchResult,
    ConsumerStats,
    Handler,
    Message,
    OutgoingMessage,
    SqsClient,
    SqsConsumer,
)

try:
    __version__ = version("internal-aws")
except PackageNotFoundError:  # running from a source tree (Pants sandbox) rather than an installed wheel
    __version__ = "0.0.0+source"

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AwsConfigurationError",
    "AwsConnectionError",
    "AwsCredentials",
    "AwsError",
    "AwsSettings",
    "AwsTimeoutError",
    "BatchError",
    "BatchFailure",
    "BatchResult",
    "BucketNotFoundError",
    "CALLER_ERRORS",
    "ConditionFailedError",
    "ConsumerStats",
    "CredentialSource",
    "DynamoTable",
    "Handler",
    "InvalidRequestError",
    "Message",
    "NotFoundError",
    "NumberMode",
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectSummary",
    "OutgoingMessage",
    "Page",
    "QueueNotFoundError",
    "RETRYABLE_ERRORS",
    "S3Client",
    "SerializationError",
    "ServiceClient",
    "SqsClient",
    "SqsConsumer",
    "TableNotFoundError",
    "ThrottlingError",
    "__version__",
    "deserialize_item",
    "serialize_item",
]
