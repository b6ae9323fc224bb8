"""Fixtures: one programmable ASGI app served by uvicorn on loopback for the whole session."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from .app import ProgrammableApp


@pytest.fixture(scope="session")
def app() -> ProgrammableApp:
    """The session-wide programmable app (tests use unique keys, so they never share counters)."""
    return ProgrammableApp()


@pytest.fixture(scope="session")
def base_url(serve_asgi: Callable[..., str], app: ProgrammableApp) -> str:
    """Base URL of the app served by uvicorn on 127.0.0.1."""
    return serve_asgi(app)


@pytest.fixture()
def key() -> str:
    """A counter key unique to the test."""
    return uuid.uuid4().hex


@pytest.fixture(scope="session")
def other_app() -> ProgrammableApp:
    """A second app, served on another port: another origin for redirect tests."""
    return ProgrammableApp()


@pytest.fixture(scope="session")
def other_url(serve_asgi: Callable[..., str], other_app: ProgrammableApp) -> str:
    """Base URL of the second app (same host, different port, so a different origin)."""
    return serve_asgi(other_app)
