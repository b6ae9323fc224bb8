"""The per-base-URL health check create_client registers (httpx.MockTransport, no network)."""

from __future__ import annotations

import asyncio
import pickle

import httpx
import pytest

from internal_base.health import HealthRegistry, HealthStatus, default_registry
from internal_http import (
    BreakerConfig,
    HttpError,
    HttpResilienceSettings,
    HttpSettings,
    HttpUnavailableError,
    RetryConfig,
    create_client,
)

BASE_URL = "https://orders.test:8443"
CHECK = "http:https://orders.test:8443"


def _settings(*, threshold: int = 1, **options: object) -> HttpSettings:
    resilience = HttpResilienceSettings(
        retry=RetryConfig(attempts=1), breaker=BreakerConfig(failure_threshold=threshold, reset_timeout=60)
    )
    return HttpSettings(base_url=BASE_URL, resilience=resilience, **options)  # type: ignore[arg-type]


def _answer(status: int) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status))


async def test_check_registered_per_base_url_and_removed_on_close() -> None:
    """A client registers a check named after its base URL's host; aclose() removes it."""
    registry = HealthRegistry()
    client = create_client(_settings(), transport=_answer(200), health_registry=registry)
    registered = registry.names
    await client.aclose()
    await client.aclose()  # idempotent
    assert (registered, registry.names) == ([CHECK], [])


async def test_leaving_async_with_removes_the_check() -> None:
    """Leaving ``async with`` closes the client and removes its check."""
    registry = HealthRegistry()
    async with create_client(_settings(), transport=_answer(200), health_registry=registry):
        inside = registry.names
    assert (inside, registry.names) == ([CHECK], [])


async def test_default_registry_when_none_given() -> None:
    """Without health_registry the check goes to the process-wide default registry."""
    async with create_client(_settings(), transport=_answer(200)):
        inside = CHECK in default_registry().names
    assert (inside, CHECK in default_registry().names) == (True, False)


@pytest.mark.parametrize(
    "settings", [_settings(health_check=False), HttpSettings(health_check=True)], ids=["off", "no-base-url"]
)
async def test_nothing_registered_when_off_or_without_base_url(settings: HttpSettings) -> None:
    """health_check=False, or no base_url to name a host, registers nothing."""
    registry = HealthRegistry()
    async with create_client(settings, transport=_answer(200), health_registry=registry):
        assert registry.names == []


async def test_healthy_while_the_host_answers() -> None:
    """A host that answers is healthy; details show the closed breaker and no error."""
    registry = HealthRegistry(cache_ttl=0)
    async with create_client(_settings(), transport=_answer(200), health_registry=registry) as client:
        await client.get("/")
        result = (await registry.readiness()).check(CHECK)
    assert (result.status, result.details) == (
        HealthStatus.HEALTHY,
        {"breaker": "closed", "last_error": None},
    )


async def test_open_breaker_is_unhealthy_with_the_last_error() -> None:
    """After the host failed and its breaker opened, the check is unhealthy and names the last error."""
    registry = HealthRegistry(cache_ttl=0)
    async with create_client(_settings(), transport=_answer(503), health_registry=registry) as client:
        await client.get("/")
        report = await registry.readiness()
    result = report.check(CHECK)
    assert result.status == HealthStatus.UNHEALTHY
    assert result.critical is False
    assert report.status == HealthStatus.DEGRADED  # a dependency down degrades, it does not fail readiness
    assert result.error is not None
    assert "HttpUnavailableError" in result.error
    assert "last error: HTTP 503 Service Unavailable" in result.error


async def test_half_open_breaker_is_degraded() -> None:
    """Once the reset timeout has passed (a probe may go through), the check reports degraded."""
    registry = HealthRegistry(cache_ttl=0)
    resilience = HttpResilienceSettings(
        retry=RetryConfig(attempts=1), breaker=BreakerConfig(failure_threshold=1, reset_timeout=0.001)
    )
    settings = HttpSettings(base_url=BASE_URL, resilience=resilience)
    async with create_client(settings, transport=_answer(503), health_registry=registry) as client:
        await client.get("/")
        await asyncio.sleep(0.05)  # only has to exceed the 1 ms reset timeout
        result = (await registry.readiness()).check(CHECK)
    assert result.status == HealthStatus.DEGRADED


async def test_closed_breaker_shows_a_failure_below_the_threshold() -> None:
    """A failure that did not open the breaker stays healthy but shows as the last error."""
    registry = HealthRegistry(cache_ttl=0)
    async with create_client(
        _settings(threshold=3), transport=_answer(502), health_registry=registry
    ) as client:
        await client.get("/")
        result = (await registry.readiness()).check(CHECK)
    assert result.status == HealthStatus.HEALTHY
    assert result.details == {"breaker": "closed", "last_error": "HTTP 502 Bad Gateway"}


async def test_without_breakers_the_last_call_decides() -> None:
    """With breakers off the check is unhealthy while the host's last call failed, healthy after a success."""
    registry = HealthRegistry(cache_ttl=0)
    outcomes = [503, 200]
    transport = httpx.MockTransport(lambda request: httpx.Response(outcomes.pop(0)))
    async with create_client(_settings(threshold=0), transport=transport, health_registry=registry) as client:
        await client.get("/")
        failed = (await registry.readiness()).check(CHECK)
        await client.get("/")
        recovered = (await registry.readiness()).check(CHECK)
    assert failed.status == HealthStatus.UNHEALTHY
    unavailable = "HttpUnavailableError: https://orders.test:8443 is unavailable"
    assert failed.error == f"{unavailable}; last error: HTTP 503 Service Unavailable"
    assert (recovered.status, recovered.details) == (
        HealthStatus.HEALTHY,
        {"breaker": "off", "last_error": None},
    )


def test_unavailable_error_is_a_connection_error_with_retry_after() -> None:
    """HttpUnavailableError is an HttpError and a ConnectionError carrying retry_after; it pickles."""
    error = HttpUnavailableError("https://orders.test", 4.5, last_error="ConnectError: refused")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(error, HttpError)
    assert isinstance(error, ConnectionError)
    assert (copy.host, copy.retry_after, copy.last_error, str(copy)) == (
        "https://orders.test",
        4.5,
        "ConnectError: refused",
        str(error),
    )
