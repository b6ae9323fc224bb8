"""One named resilience policy (timeout + retry + breaker) accepted by every commons library."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from internal_base._breaker import CircuitBreaker
from internal_base._retry import RetryPolicy, WaitOverride
from internal_base._waiting import with_timeout

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True, slots=True)
class ResiliencePolicy:
    """``breaker(retry(timeout(fn)))``: one object configures resilience for a dependency.

    Args:
        timeout: Seconds allowed per attempt (None: no limit).
        retry: Retry policy (None: a single attempt).
        breaker: Circuit breaker guarding the whole retried call (None: no breaker).
    """

    timeout: float | None = None
    retry: RetryPolicy | None = None
    breaker: CircuitBreaker | None = None

    async def run(
        self,
        fn: Callable[_P, Awaitable[_T]],
        /,
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """Await ``fn(*args, **kwargs)`` under the timeout, retry and breaker."""
        return await self.run_with(fn, *args, wait_override=None, **kwargs)

    async def run_with(
        self,
        fn: Callable[..., Awaitable[_T]],
        /,
        *args: object,
        wait_override: WaitOverride | None = None,
        **kwargs: object,
    ) -> _T:
        """Like ``run`` with a per-call ``wait_override`` (e.g. from ``Retry-After``)."""
        timeout, retry = self.timeout, self.retry

        async def attempt() -> _T:
            return await with_timeout(fn(*args, **kwargs), timeout)

        async def retried() -> _T:
            if retry is None:
                return await attempt()
            return await retry.call_with(attempt, wait_override=wait_override)

        if self.breaker is None:
            return await retried()
        return await self.breaker.call(retried)


class ResilienceSettings(BaseModel):
    """Settings section that builds a ``ResiliencePolicy`` (nest it in any library's settings).

    ``attempts=1`` disables retries and ``failure_threshold=0`` disables the breaker.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: float | None = Field(default=None, gt=0)
    attempts: int = Field(default=3, ge=1)
    initial_wait: float = Field(default=0.1, ge=0)
    max_wait: float = Field(default=5.0, ge=0)
    total_timeout: float | None = Field(default=30.0, gt=0)
    failure_threshold: int = Field(default=5, ge=0)
    reset_timeout: float = Field(default=30.0, ge=0)

    def to_policy(
        self,
        name: str,
        *,
        retry_on: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError),
        excluded: tuple[type[BaseException], ...] = (),
    ) -> ResiliencePolicy:
        """Build the policy; ``name`` labels the retry logs and names the breaker."""
        retry = (
            None
            if self.attempts == 1
            else RetryPolicy(
                attempts=self.attempts,
                initial_wait=self.initial_wait,
                max_wait=max(self.max_wait, self.initial_wait),
                total_timeout=self.total_timeout,
                retry_on=retry_on,
                name=name,
            )
        )
        breaker = (
            None
            if self.failure_threshold == 0
            else CircuitBreaker(
                name,
                failure_threshold=self.failure_threshold,
                reset_timeout=self.reset_timeout,
                excluded=excluded,
            )
        )
        return ResiliencePolicy(timeout=self.timeout, retry=retry, breaker=breaker)
