"""Shared fixtures of internal_base's tests: the service fixtures and logging into a buffer."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from internal_base.logging import configure_logging, shutdown_logging

pytest_plugins = ["internal_testing.plugin"]


@pytest.fixture(params=[True, False], ids=["json", "text"])
def output(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Logging at DEBUG configured into a buffer, once as JSON and once as text."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=request.param, level="DEBUG")
    yield buffer
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)


@pytest.fixture()
def json_output() -> Iterator[io.StringIO]:
    """JSON logging into a buffer."""
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    yield buffer
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)
