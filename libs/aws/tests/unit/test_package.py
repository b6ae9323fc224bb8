"""The package imports and reports a version."""

from __future__ import annotations

import re

import internal_aws


def test_version_is_a_pep440_string() -> None:
    """The version is a release or a local source marker, never empty."""
    assert re.fullmatch(r"\d+\.\d+\.\d+(\+source)?", internal_aws.__version__)


def test_public_api_is_only_the_version() -> None:
    """Nothing is exported before the features land."""
    assert internal_aws.__all__ == ["__version__"]
