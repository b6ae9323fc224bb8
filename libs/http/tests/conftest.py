"""Shared fixtures of internal_http's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from internal_http import _logging

pytest_plugins = ["internal_testing.plugin"]


@pytest.fixture(autouse=True)
def _isolated_secret_query_names() -> Iterator[None]:
    """Each test starts with the secret query names registered before it (registration is process-wide).

    Under Pants every test file is its own process; in one pytest process for the whole suite
    (tox, the Python matrix) a test registering ``key`` would otherwise mask ``?key=`` in later tests.
    """
    before = set(_logging._secret_query_names)
    yield
    _logging._secret_query_names.clear()
    _logging._secret_query_names.update(before)
