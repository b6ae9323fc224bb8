"""internal_aws: async S3, DynamoDB and SQS clients and an SQS consumer on aioboto3.

Example::

    from internal_aws import AwsSettings, S3Client, SqsClient, SqsConsumer

    settings = AwsSettings.load()            # COMMONS_AWS_* env vars and the "aws" YAML section
    async with S3Client(bucket="reports", settings=settings) as s3:
        await s3.put_bytes("hello.txt", b"hi", content_type="text/plain")

Every client takes ``settings`` (default ``AwsSettings.load()``: env, the YAML file named by
``COMMONS_CONFIG_FILE``, ``.env``), an existing ``session`` (``aioboto3.Session``), ``credentials``,
an optional ``internal_base`` ``ResiliencePolicy`` and a ``health_registry``; ``client.client`` is the
real aioboto3 client. ``async with`` opens a client, ``await client.aclose()`` closes it. Errors are
``AwsError`` subclasses (the tree is in ``internal_aws._errors``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from internal_aws._config import AwsSettings
from internal_aws._errors import (
    CALLER_ERRORS,
    RETRYABLE_ERRORS,
    AccessDeniedError,
    AlreadyExistsError,
    AwsConfigurationError,
    AwsError,
    AwsNotFoundError,
    AwsSerializationError,
    AwsTimeoutError,
    AwsUnavailableError,
    BatchError,
    BucketNotFoundError,
    ConditionFailedError,
    InvalidRequestError,
    ObjectNotFoundError,
    QueueNotFoundError,
    TableNotFoundError,
    ThrottlingError,
)
from internal_aws._service import ServiceClient
from internal_aws.auth._credentials import AwsCredentials, CredentialSource
from internal_aws.dynamodb import DynamoTable, KeyType, NumberMode, Page, deserialize_item, serialize_item
from internal_aws.s3 import ObjectInfo, ObjectSummary, S3Client
from internal_aws.sqs import (
    BatchFailure,
    BatchResult,
    ConsumerStats,
    Handler,
    Message,
    OutboxEventLike,
    OutgoingMessage,
    PublishReport,
    SqsClient,
    SqsConsumer,
    SqsOutboxPublisher,
)

try:
    __version__ = version("internal-aws")
except PackageNotFoundError:  # running from a source tree (Pants sandbox) rather than an installed wheel
    __version__ = "0.0.0+source"

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AwsConfigurationError",
    "AwsCredentials",
    "AwsError",
    "AwsNotFoundError",
    "AwsSerializationError",
    "AwsSettings",
    "AwsTimeoutError",
    "AwsUnavailableError",
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
    "KeyType",
    "Message",
    "NumberMode",
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectSummary",
    "OutboxEventLike",
    "OutgoingMessage",
    "Page",
    "PublishReport",
    "QueueNotFoundError",
    "RETRYABLE_ERRORS",
    "S3Client",
    "ServiceClient",
    "SqsClient",
    "SqsConsumer",
    "SqsOutboxPublisher",
    "TableNotFoundError",
    "ThrottlingError",
    "__version__",
    "deserialize_item",
    "serialize_item",
]
