"""The public API: curated, sorted ``__all__`` lists that match what the modules export."""

from __future__ import annotations

import importlib
import re

import pytest

import internal_aws

MODULES = [
    "internal_aws",
    "internal_aws.credentials",
    "internal_aws.dynamodb",
    "internal_aws.dynamodb.table",
    "internal_aws.s3",
    "internal_aws.s3.client",
    "internal_aws.sqs",
    "internal_aws.sqs.client",
    "internal_aws.sqs.consumer",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolvable(name: str) -> None:
    """Each public module lists its names sorted, without duplicates, and every name exists."""
    module = importlib.import_module(name)
    assert module.__all__ == sorted(set(module.__all__))
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert missing == []


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
