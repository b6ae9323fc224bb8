"""Integration: retries against real failures from a loopback server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from internal_base.resilience import testing
from internal_http import (
    ATTEMPTS_EXTENSION,
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    HttpUnavailableError,
    RetryConfig,
    TimeoutConfig,
    create_client,
)

from .app import ProgrammableApp


@pytest.fixture()
def no_wait() -> Iterator[testing]:
    """Skip (and record) every backoff wait."""
    with testing() as mode:
        yield mode


def _settings(base_url: str, retry_after_cap: float = 60.0) -> HttpSettings:
    retry = RetryConfig(attempts=4, retry_after_cap=retry_after_cap)
    return HttpSettings(
        base_url=base_url, resilience=HttpResilienceSettings(retry=retry), timeout=TimeoutConfig(read=2.0)
    )


async def test_flaky_get_succeeds(base_url: str, key: str, app: ProgrammableApp, no_wait: testing) -> None:
    """A GET failing 3 times with 503 succeeds on attempt 4."""
    async with create_client(_settings(base_url)) as client:
        response = await client.get("/flaky", params={"key": key, "fail": "3"})
    assert response.status_code == 200
    assert response.json() == {"hits": 4}
    assert response.extensions[ATTEMPTS_EXTENSION] == 4
    assert app.hits[key] == 4
    assert len(no_wait.sleeps) == 3


async def test_post_without_key_sent_once(
    base_url: str, key: str, app: ProgrammableApp, no_wait: testing
) -> None:
    """A POST without Idempotency-Key reaches the server exactly once even though it fails."""
    async with create_client(_settings(base_url)) as client:
        response = await client.post("/flaky", params={"key": key, "fail": "2"}, json={"x": 1})
    assert response.status_code == 503
    assert app.hits[key] == 1
    assert no_wait.sleeps == []


async def test_post_with_idempotency_key_retried(
    base_url: str, key: str, app: ProgrammableApp, no_wait: testing
) -> None:
    """A POST with an Idempotency-Key is retried until it succeeds."""
    async with create_client(_settings(base_url)) as client:
        response = await client.post(
            "/flaky", params={"key": key, "fail": "2"}, json={"x": 1}, headers={"Idempotency-Key": key}
        )
    assert response.status_code == 200
    assert app.hits[key] == 3


async def test_retry_after_honoured(base_url: str, key: str, app: ProgrammableApp, no_wait: testing) -> None:
    """The server's Retry-After (seconds) is the wait before the next attempt."""
    async with create_client(_settings(base_url)) as client:
        response = await client.get(
            "/flaky", params={"key": key, "fail": "1", "status": "429", "retry_after": "3"}
        )
    assert response.status_code == 200
    assert no_wait.sleeps == [3.0]


async def test_retry_after_cap(base_url: str, key: str, no_wait: testing) -> None:
    """A Retry-After above the cap is cut to the cap."""
    async with create_client(_settings(base_url, retry_after_cap=2.0)) as client:
        response = await client.get(
            "/flaky", params={"key": key, "fail": "1", "status": "503", "retry_after": "3600"}
        )
    assert response.status_code == 200
    assert no_wait.sleeps == [2.0]


async def test_dropped_connection_retried(
    base_url: str, key: str, app: ProgrammableApp, no_wait: testing
) -> None:
    """A connection closed without a response is retried for a GET."""
    async with create_client(_settings(base_url)) as client:
        response = await client.get("/drop", params={"key": key, "fail": "2"})
    assert response.json() == {"hits": 3}
    assert app.hits[key] == 3


async def test_dropped_connection_post_not_retried(base_url: str, key: str, app: ProgrammableApp) -> None:
    """A POST whose connection drops is not retried; the transport error reaches the caller."""
    async with create_client(_settings(base_url)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/drop", params={"key": key, "fail": "1"}, content=b"body")
    assert app.hits[key] == 1


async def test_read_timeout_retried(base_url: str, key: str, app: ProgrammableApp, no_wait: testing) -> None:
    """A slow first answer times out and the retry succeeds."""
    # The retry must answer within the read timeout even on a busy machine: 1 s, against a 3 s hang.
    settings = HttpSettings(base_url=base_url, timeout=TimeoutConfig(read=1.0))
    async with create_client(settings) as client:
        response = await client.get("/delay", params={"key": key, "seconds": "3", "fail": "1"})
    assert response.status_code == 200
    assert app.hits[key] == 2


async def test_connect_error_retried_then_raised(no_wait: testing) -> None:
    """Connection refused is retried up to the attempt limit, then raised."""
    async with create_client(_settings("http://127.0.0.1:9")) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/")
    assert len(no_wait.sleeps) == 3


async def test_breaker_opens_on_real_failures(base_url: str, key: str, app: ProgrammableApp) -> None:
    """Repeated 503s open the host's breaker and further calls fail fast without reaching the server."""
    settings = HttpSettings(
        base_url=base_url,
        resilience=HttpResilienceSettings(
            retry=RetryConfig(attempts=1), breaker=BreakerConfig(failure_threshold=3, reset_timeout=60)
        ),
    )
    async with create_client(settings) as client:
        for _ in range(3):
            await client.get("/flaky", params={"key": key, "fail": "100"})
        with pytest.raises(HttpUnavailableError) as info:
            await client.get("/flaky", params={"key": key, "fail": "100"})
    assert app.hits[key] == 3
    assert info.value.retry_after is not None
    assert info.value.retry_after > 0


async def test_429_does_not_open_breaker(base_url: str, key: str, app: ProgrammableApp) -> None:
    """Many 429s never open the breaker."""
    settings = HttpSettings(
        base_url=base_url,
        resilience=HttpResilienceSettings(
            retry=RetryConfig(attempts=1), breaker=BreakerConfig(failure_threshold=2)
        ),
    )
    async with create_client(settings) as client:
        statuses = [
            (await client.get("/flaky", params={"key": key, "fail": "100", "status": "429"})).status_code
            for _ in range(4)
        ]
    assert statuses == [429] * 4
    assert app.hits[key] == 4
