"""Integration: two open clients of one host keep that host's health check until both are closed.

Both clients register the check ``http:<host>`` (one name per host); the second replaced the
first's, and closing the second removed it, so the host went unmonitored while the first client
still called it.
"""

from __future__ import annotations

from internal_base.health import HealthRegistry
from internal_http import HttpSettings, create_client


async def _names(registry: HealthRegistry) -> list[str]:
    return [check.name for check in (await registry.readiness()).checks]


async def test_check_survives_while_one_client_of_the_host_is_open(base_url: str) -> None:
    """Closing the newer of two clients of a host leaves the older one's check registered."""
    registry = HealthRegistry(cache_ttl=0)
    name = f"http:{base_url}"
    older = create_client(HttpSettings(base_url=f"{base_url}/v1"), health_registry=registry)
    newer = create_client(HttpSettings(base_url=f"{base_url}/v2"), health_registry=registry)
    await newer.aclose()
    assert await _names(registry) == [name]
    await older.aclose()
    assert await _names(registry) == []


async def test_check_survives_closing_the_older_client(base_url: str) -> None:
    """Closing the older of two clients of a host leaves the newer one's check registered."""
    registry = HealthRegistry(cache_ttl=0)
    older = create_client(HttpSettings(base_url=base_url), health_registry=registry)
    newer = create_client(HttpSettings(base_url=base_url), health_registry=registry)
    await older.aclose()
    assert await _names(registry) == [f"http:{base_url}"]
    await newer.aclose()
    assert await _names(registry) == []
