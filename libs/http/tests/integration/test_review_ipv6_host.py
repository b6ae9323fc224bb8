"""Integration: an IPv6 host is named unambiguously (``http://[::1]:port``) in errors and health checks.

The "server" is a real socket on the IPv6 loopback, bound but not listening, so every connection
to it is refused by the kernel: a host failure that opens the breaker.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from internal_base.health import HealthRegistry
from internal_http import (
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    HttpUnavailableError,
    RetryConfig,
    create_client,
)


@pytest.fixture()
def refusing_port() -> Iterator[int]:
    """A port on ``::1`` that refuses connections (bound, never listening) while the test runs."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        yield sock.getsockname()[1]


def _settings(port: int) -> HttpSettings:
    resilience = HttpResilienceSettings(
        retry=RetryConfig(attempts=1), breaker=BreakerConfig(failure_threshold=1, reset_timeout=60.0)
    )
    return HttpSettings(base_url=f"http://[::1]:{port}", resilience=resilience)


async def test_open_breaker_error_names_ipv6_host_in_brackets(refusing_port: int) -> None:
    """HttpUnavailableError.host for an IPv6 host is a parseable URL with the address in brackets."""
    async with create_client(_settings(refusing_port), health_registry=HealthRegistry()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/")
        with pytest.raises(HttpUnavailableError) as caught:
            await client.get("/")
    host = caught.value.host
    assert host == f"http://[::1]:{refusing_port}"
    assert (httpx.URL(host).host, httpx.URL(host).port) == ("::1", refusing_port)


async def test_health_check_names_ipv6_host_in_brackets(refusing_port: int) -> None:
    """The per-base-URL health check of an IPv6 host is named ``http:http://[::1]:<port>``."""
    registry = HealthRegistry(cache_ttl=0)
    async with create_client(_settings(refusing_port), health_registry=registry):
        report = await registry.readiness()
    assert [check.name for check in report.checks] == [f"http:http://[::1]:{refusing_port}"]
