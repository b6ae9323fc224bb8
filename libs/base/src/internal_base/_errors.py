"""Exception hierarchy shared by every commons library."""

from __future__ import annotations


class CommonsError(Exception):
    """Root of every exception raised by the commons libraries."""


class ConfigurationError(CommonsError, ValueError):
    """Settings or configuration are invalid; the message never contains secret values."""


class CircuitOpenError(CommonsError):
    """A circuit breaker rejected the call because it is open.

    Attributes:
        name: Name of the breaker that rejected the call.
        retry_after: Seconds until the breaker admits a probe call again.
    """

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.retry_after = max(0.0, retry_after)
        super().__init__(f"circuit {name!r} is open; retry after {self.retry_after:.3f}s")

    def __reduce__(self) -> tuple[type[CircuitOpenError], tuple[str, float]]:
        return (type(self), (self.name, self.retry_after))
