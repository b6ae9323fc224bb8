"""A health check per client and base URL: the host's breaker state and the last failure it caused.

The check sends nothing: it reports what the client's own calls found out, so checking health
never adds load to a struggling dependency. ``create_client`` registers it (non-critical: a
dependency that is down degrades this service's readiness instead of taking it out of rotation)
and the transport's ``aclose`` removes it again.
"""

from __future__ import annotations

import weakref
from typing import Any

import httpx

from internal_base.errors import CircuitOpenError
from internal_base.health import HealthRegistry, HealthStatus

from ._errors import HttpUnavailableError
from ._transport import RetryTransport, host_name

__all__ = ["HostHealthCheck", "register_host_check"]


class HostHealthCheck:
    """Health of one host as a client sees it.

    Healthy while the host's breaker is closed (details: the breaker state and, if the last call
    failed at the host, that failure); degraded while half-open; unhealthy while open, or, without
    breakers, while the last call failed at the host.
    """

    def __init__(self, transport: RetryTransport, url: httpx.URL) -> None:
        """Report on ``url``'s host as seen through ``transport``."""
        self._transport = transport
        self._url = url
        self.name = f"http:{host_name(url)}"

    async def __call__(self) -> HealthStatus | dict[str, Any]:
        """Run the check (a ``HealthRegistry`` check function).

        Raises:
            HttpUnavailableError: The host's breaker is open (or, without breakers, its last call failed).
        """
        url = self._url
        last_error = self._transport.last_error(url)
        registry = self._transport.breakers
        breaker = None if registry is None else registry.get(url)
        if breaker is None:
            if registry is None and last_error is not None:
                raise HttpUnavailableError(host_name(url), None, last_error=last_error)
            return {"breaker": "closed" if registry is not None else "off", "last_error": last_error}
        try:
            status = await breaker.health_check()
        except CircuitOpenError as exc:
            raise HttpUnavailableError(host_name(url), exc.retry_after, last_error=last_error) from exc
        if status is not HealthStatus.HEALTHY:
            return status
        return {"breaker": "closed", "last_error": last_error}


# The checks of open clients per registry and name, oldest first. Clients of one host share the
# check's name: the newest open one is registered, and when it closes the next newest takes over.
_OPEN: weakref.WeakKeyDictionary[HealthRegistry, dict[str, list[HostHealthCheck]]] = (
    weakref.WeakKeyDictionary()
)


def register_host_check(
    registry: HealthRegistry, transport: RetryTransport, base_url: httpx.URL
) -> HostHealthCheck:
    """Register ``base_url``'s host check in ``registry``; the transport's ``aclose`` removes it.

    Another open client of the same host keeps the host's check registered (its own) until it
    closes too.
    """
    check = HostHealthCheck(transport, base_url)
    open_checks = _OPEN.setdefault(registry, {}).setdefault(check.name, [])
    open_checks.append(check)
    registry.register(check.name, check, critical=False)
    transport._on_close.append(lambda: _close(registry, check))
    return check


def _close(registry: HealthRegistry, check: HostHealthCheck) -> None:
    open_checks = _OPEN.get(registry, {}).get(check.name, [])
    if check in open_checks:
        open_checks.remove(check)
    registry.unregister(check.name, check)  # only if it is still this client's check
    if open_checks and check.name not in registry.names:
        registry.register(check.name, open_checks[-1], critical=False)
