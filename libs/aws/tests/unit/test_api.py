"""The public API: curated, sorted ``__all__`` lists that match what the modules export."""

from __future__ import annotations

import importlib
import re

import pytest

import internal_aws
from internal_testing.public_api import assert_public_api

MODULES = [
    "internal_aws",
    "internal_aws.auth",
    "internal_aws.auth.credentials",
    "internal_aws.config",
    "internal_aws.dynamodb",
    "internal_aws.dynamodb.table",
    "internal_aws.s3",
    "internal_aws.s3.client",
    "internal_aws.sqs",
    "internal_aws.sqs.client",
    "internal_aws.sqs.consumer",
    "internal_aws.sqs.outbox",
    "internal_aws.telemetry",
]


@pytest.mark.parametrize("module", MODULES)
def test_public_api(module: str) -> None:
    """Each public module has a sorted, complete, documented ``__all__`` (the family's shared check)."""
    assert_public_api(module)


def test_the_old_names_are_gone() -> None:
    """The renamed errors and the moved modules have no aliases left."""
    for old in ("AwsConnectionError", "NotFoundError", "SerializationError"):
        assert not hasattr(internal_aws, old), old
    for module in ("internal_aws.credentials", "internal_aws._settings"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(module)


def test_top_level_exports_the_main_classes() -> None:
    """The clients, settings and error root are importable from the package root."""
    expected = {
        "AwsSettings",
        "AwsCredentials",
        "S3Client",
        "DynamoTable",
        "SqsClient",
        "SqsConsumer",
        "AwsError",
    }
    assert expected <= set(internal_aws.__all__)


def test_top_level_reexports_every_subpackage_class() -> None:
    """Every public class of the subpackages is also exported at the top level."""
    for sub in ("internal_aws.s3", "internal_aws.dynamodb", "internal_aws.sqs"):
        module = importlib.import_module(sub)
        classes = {name for name in module.__all__ if name[0].isupper() and not name.isupper()}
        classes -= {"AttributeValue"}
        assert classes <= set(internal_aws.__all__), sub


def test_version_is_a_pep440_string() -> None:
    """The version is a release or a local source marker, never empty."""
    assert re.fullmatch(r"\d+\.\d+\.\d+(\+source)?", internal_aws.__version__)


def test_errors_derive_from_commons_error() -> None:
    """Every exported error is an AwsError and so a CommonsError."""
    from internal_base.errors import CommonsError

    errors = [getattr(internal_aws, n) for n in internal_aws.__all__ if n.endswith("Error")]
    assert len(errors) >= 15
    assert all(issubclass(error, internal_aws.AwsError) for error in errors)
    assert issubclass(internal_aws.AwsError, CommonsError)
