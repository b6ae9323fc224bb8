"""Integration: a call cancelled after the host failed still counts toward that host's breaker.

A caller's deadline (``asyncio.timeout`` around the call, a cancelled request handler) usually fires
while the transport waits to retry a host that already answered 503. The host's failure is a fact
by then; if the cancellation erased it, callers with deadlines shorter than the retry schedule
would never open the breaker of a host that fails every request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from internal_http import (
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    HttpUnavailableError,
    RetryConfig,
    create_client,
)

from .app import ProgrammableApp


class _FailureSeen(logging.Handler):
    """Sets an event when internal_http logs a failed attempt (the 503 has been received)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.__dict__.get("http_status") == 503:
            self.seen.set()


@pytest.fixture()
def failure_seen() -> Iterator[_FailureSeen]:
    """A handler on the ``internal_http`` logger, removed after the test."""
    handler = _FailureSeen()
    log = logging.getLogger("internal_http")
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)


def _settings(base_url: str) -> HttpSettings:
    # Waits of 60 s between attempts: the cancellation always lands while the transport waits.
    retry = RetryConfig.model_validate(
        {"attempts": 5, "total_timeout": None, "backoff": {"initial": 60.0, "maximum": 60.0, "jitter": False}}
    )
    breaker = BreakerConfig(failure_threshold=2, reset_timeout=60.0)
    return HttpSettings(base_url=base_url, resilience=HttpResilienceSettings(retry=retry, breaker=breaker))


async def test_cancelled_after_503_counts_as_failure(
    base_url: str, key: str, app: ProgrammableApp, failure_seen: _FailureSeen
) -> None:
    """Two calls cancelled while waiting to retry a 503 open a threshold-2 breaker; the third is refused."""
    params = {"key": key, "fail": "1000"}
    async with create_client(_settings(base_url)) as client:
        for _ in range(2):
            failure_seen.seen.clear()
            call = asyncio.create_task(client.get("/flaky", params=params))
            async with asyncio.timeout(30):
                await failure_seen.seen.wait()
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
        hits_before = app.hits[key]
        with pytest.raises(HttpUnavailableError):
            async with asyncio.timeout(30):
                await client.get("/flaky", params=params)
    assert hits_before == 2
    assert app.hits[key] == 2  # the refused call never reached the host


async def test_cancelled_before_any_answer_is_no_verdict(
    base_url: str, key: str, app: ProgrammableApp
) -> None:
    """Calls cancelled while the host has not answered yet do not open the breaker."""
    async with create_client(_settings(base_url)) as client:
        for _ in range(3):
            call = asyncio.create_task(client.get("/delay", params={"key": key, "seconds": "10"}))
            async with asyncio.timeout(30):
                while app.hits[key] == 0:  # the server has the request and is holding it
                    await asyncio.sleep(0.01)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            app.hits[key] = 0
        response = await client.get("/hits", params={"key": key})
    assert response.status_code == 200
