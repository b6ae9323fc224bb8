"""Integration: the configured connection limits bound what a real server sees."""

from __future__ import annotations

import asyncio

from internal_http import (
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    LimitsConfig,
    TimeoutConfig,
    create_client,
)

from .app import ProgrammableApp


async def test_max_connections_bounds_concurrent_requests(
    base_url: str, key: str, app: ProgrammableApp
) -> None:
    """With max_connections=2, ten concurrent slow requests reach the server at most two at a time."""
    settings = HttpSettings(
        base_url=base_url,
        limits=LimitsConfig(max_connections=2),
        timeout=TimeoutConfig(pool=60.0, read=60.0),
        resilience=HttpResilienceSettings(breaker=BreakerConfig(failure_threshold=0)),
    )
    async with create_client(settings) as client:
        responses = await asyncio.gather(
            *(client.get("/slow", params={"key": key, "seconds": "0.5"}) for _ in range(10))
        )
    assert [r.status_code for r in responses] == [200] * 10
    assert app.hits[key] == 10
    assert app.max_in_flight[key] == 2
