"""Integration: a host's breaker counts what the host did, once per call, against real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from internal_base.resilience import testing
from internal_http import (
    BreakerConfig,
    BreakerRegistry,
    HttpResilienceSettings,
    HttpSettings,
    HttpUnavailableError,
    LimitsConfig,
    RetryConfig,
    TimeoutConfig,
    create_client,
)

from .app import ProgrammableApp

DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused


@pytest.fixture()
def no_wait() -> Iterator[testing]:
    """Skip (and record) every backoff wait."""
    with testing() as mode:
        yield mode


def _settings(base_url: str, *, threshold: int, attempts: int = 3, **options: object) -> HttpSettings:
    return HttpSettings(
        base_url=base_url,
        resilience=HttpResilienceSettings(
            retry=RetryConfig(attempts=attempts),
            breaker=BreakerConfig(failure_threshold=threshold, reset_timeout=60),
        ),
        **options,  # type: ignore[arg-type]
    )


def _state(registry: BreakerRegistry, base_url: str) -> str:
    return registry.for_url(httpx.URL(base_url)).state


async def test_retried_503s_count_once_per_call(
    base_url: str, key: str, app: ProgrammableApp, no_wait: testing
) -> None:
    """A call that took 3 attempts of 503 counts one failure: threshold 2 opens on the second call."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=2, reset_timeout=60))
    params = {"key": key, "fail": "100"}
    async with create_client(_settings(base_url, threshold=2), breaker_registry=registry) as client:
        first = await client.get("/flaky", params=params)
        state_after_first = _state(registry, base_url)
        second = await client.get("/flaky", params=params)
        with pytest.raises(HttpUnavailableError):
            await client.get("/flaky", params=params)
    assert (first.status_code, second.status_code) == (503, 503)
    assert state_after_first == "closed"
    assert app.hits[key] == 6


async def test_dead_host_counts_once_per_call(no_wait: testing) -> None:
    """Connection refused on every attempt of one call is one failure; the call ends with ConnectError."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=2, reset_timeout=60))
    async with create_client(_settings(DEAD_URL, threshold=2), breaker_registry=registry) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/")
        state_after_first = _state(registry, DEAD_URL)
        with pytest.raises(httpx.ConnectError):
            await client.get("/")
        with pytest.raises(HttpUnavailableError):
            await client.get("/")
    assert state_after_first == "closed"
    assert len(no_wait.sleeps) == 4


async def test_failing_body_generator_does_not_count(base_url: str, key: str, app: ProgrammableApp) -> None:
    """A request body generator that raises is the caller's error: the breaker stays closed."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, reset_timeout=60))

    async def body() -> AsyncIterator[bytes]:
        yield b"first chunk"
        raise ValueError("the caller's generator broke")

    async with create_client(_settings(base_url, threshold=1), breaker_registry=registry) as client:
        for _ in range(2):
            with pytest.raises(ValueError, match="generator broke"):
                await client.put("/echo", params={"key": key}, content=body())
        after = await client.get("/echo", params={"key": key})
    assert _state(registry, base_url) == "closed"
    assert after.status_code == 200


async def test_unsendable_header_does_not_count(base_url: str, key: str, app: ProgrammableApp) -> None:
    """A header h11 refuses to send (LocalProtocolError) is the caller's error: the breaker stays closed."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, reset_timeout=60))
    async with create_client(_settings(base_url, threshold=1), breaker_registry=registry) as client:
        for _ in range(2):
            with pytest.raises(httpx.LocalProtocolError):
                await client.get("/echo", params={"key": key}, headers={"X-Bad": "line\nbreak"})
        after = await client.get("/echo", params={"key": key})
    assert _state(registry, base_url) == "closed"
    assert after.status_code == 200
    assert app.hits[key] == 1


async def test_full_pool_does_not_count(base_url: str, key: str, app: ProgrammableApp) -> None:
    """A PoolTimeout (this client's one connection is busy) does not open the host's breaker."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, reset_timeout=60))
    settings = _settings(
        base_url,
        threshold=1,
        attempts=1,
        limits=LimitsConfig(max_connections=1),
        timeout=TimeoutConfig(pool=0.5, read=30.0),
    )
    async with create_client(settings, breaker_registry=registry) as client:
        busy = asyncio.create_task(client.get("/slow", params={"key": key, "seconds": "5"}))
        async with asyncio.timeout(20):
            while app.in_flight[key] == 0:  # the only connection is now held by the slow request
                await asyncio.sleep(0.01)
        with pytest.raises(httpx.PoolTimeout):
            await client.get("/echo", params={"key": f"{key}-2"})
        assert _state(registry, base_url) == "closed"
        assert (await busy).status_code == 200
    assert app.hits[f"{key}-2"] == 0


async def test_recovered_host_used_again_within_seconds(
    base_url: str, key: str, app: ProgrammableApp, no_wait: testing
) -> None:
    """With default settings a host that recovers as its breaker opens is called again within 10 s."""
    registry = BreakerRegistry()  # the defaults: 5 failed calls open it
    params = {"key": key, "fail": "15"}  # 5 calls x 3 attempts of 503, then healthy
    async with create_client(HttpSettings(base_url=base_url), breaker_registry=registry) as client:
        for _ in range(5):
            assert (await client.get("/flaky", params=params)).status_code == 503
        assert _state(registry, base_url) == "open"
        opened = asyncio.get_running_loop().time()
        recovered = None
        async with asyncio.timeout(10):
            while recovered is None:
                try:
                    recovered = await client.get("/flaky", params=params)
                except HttpUnavailableError:
                    await asyncio.sleep(0.1)
    assert recovered.status_code == 200
    assert asyncio.get_running_loop().time() - opened < 10
