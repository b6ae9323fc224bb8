"""Integration: the base URL's health check follows a real loopback server that is up, then stopped."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from internal_base.health import HealthRegistry, HealthStatus
from internal_http import (
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    HttpUnavailableError,
    RetryConfig,
    create_client,
)
from internal_testing import AsgiServer

from .app import ProgrammableApp


async def test_health_check_follows_the_server_up_then_stopped() -> None:
    """Healthy while the server answers; once it is stopped, unhealthy naming the refused connection."""
    registry = HealthRegistry(cache_ttl=0)
    server = AsgiServer(ProgrammableApp()).start()
    name = f"http:{server.url}"
    resilience = HttpResilienceSettings(
        retry=RetryConfig(attempts=1), breaker=BreakerConfig(failure_threshold=1, reset_timeout=60)
    )
    try:
        async with create_client(
            HttpSettings(base_url=server.url, resilience=resilience), health_registry=registry
        ) as client:
            answered = (await client.get("/echo")).status_code
            up = (await registry.readiness()).check(name)
            await asyncio.to_thread(server.stop)
            with pytest.raises(httpx.ConnectError):
                await client.get("/echo")
            with pytest.raises(HttpUnavailableError):  # the open breaker: not sent
                await client.get("/echo")
            down = (await registry.readiness()).check(name)
        after_close = registry.names
    finally:
        server.stop()
    assert (answered, up.status, up.details) == (
        200,
        HealthStatus.HEALTHY,
        {"breaker": "closed", "last_error": None},
    )
    assert down.status == HealthStatus.UNHEALTHY
    assert down.error is not None
    assert f"HttpUnavailableError: {server.url} is unavailable: its circuit breaker is open" in down.error
    assert "last error: ConnectError" in down.error
    assert after_close == []
