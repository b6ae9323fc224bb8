"""One named resilience policy (timeout + retry + breaker) accepted by every commons library.

``ResilienceSettings`` is the settings section every library that talks to a server nests as
``resilience`` (env ``COMMONS_<LIB>_RESILIENCE__RETRY__ATTEMPTS=5``, YAML ``<lib>: {resilience:
{retry: {attempts: 5}}}``); ``to_policy`` turns it into the ``ResiliencePolicy`` that runs calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from internal_base._backoff import Backoff
from internal_base._breaker import CircuitBreaker
from internal_base._retry import RetryPolicy
from internal_base._waiting import with_timeout

_P = ParamSpec("_P")
_T = TypeVar("_T")

_UNAVAILABLE: Final[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)

# The flat keys of the first ResilienceSettings shape (refused now) -> where they live.
_MOVED_KEYS: Final = {
    "attempts": "retry.attempts",
    "total_timeout": "retry.total_timeout",
    "initial_wait": "retry.backoff.initial",
    "max_wait": "retry.backoff.maximum",
    "failure_threshold": "breaker.failure_threshold",
    "reset_timeout": "breaker.reset_timeout",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ResiliencePolicy:
    """``breaker(retry(timeout(fn)))``: one object configures resilience for a dependency.

    The breaker sits outside the retry loop, so one logical call counts once toward it however
    many attempts it took, and an open circuit fails fast without attempting at all.

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
        """Await ``fn(*args, **kwargs)`` under the timeout, retry and breaker.

        Raises:
            CircuitOpenError: The breaker is open; ``retry_after`` says when it admits a probe.
            TimeoutError: The last attempt overran ``timeout`` (when not retried further).
        """
        timeout, retry = self.timeout, self.retry

        async def attempt() -> _T:
            return await with_timeout(fn(*args, **kwargs), timeout)

        async def retried() -> _T:
            if retry is None:
                return await attempt()
            return await retry.call(attempt)

        if self.breaker is None:
            return await retried()
        return await self.breaker.call(retried)


class BackoffSettings(BaseModel):
    """Settings form of ``Backoff``: the waits between retries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial: float = Field(default=0.1, gt=0, allow_inf_nan=False, description="First wait cap, seconds.")
    maximum: float = Field(default=5.0, gt=0, allow_inf_nan=False, description="Longest wait, seconds.")
    multiplier: float = Field(default=2.0, ge=1, allow_inf_nan=False, description="Growth per attempt.")
    jitter: bool = Field(default=True, description="Full jitter: each wait drawn from [0, cap].")

    @model_validator(mode="after")
    def _maximum_covers_initial(self) -> BackoffSettings:
        if self.maximum < self.initial:
            raise ValueError(f"maximum ({self.maximum}) must be >= initial ({self.initial})")
        return self

    def to_backoff(self) -> Backoff:
        """The ``Backoff`` these settings describe."""
        return Backoff(
            initial=self.initial, maximum=self.maximum, multiplier=self.multiplier, jitter=self.jitter
        )


class RetrySettings(BaseModel):
    """Settings of the retry loop: bounded by ``attempts`` and by ``total_timeout``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(
        default=3, ge=1, description="Calls per logical call, the first included (1: no retry)."
    )
    total_timeout: float | None = Field(
        default=30.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds after which no retry starts (null: none).",
    )
    backoff: BackoffSettings = Field(default_factory=BackoffSettings, description="Waits between attempts.")


class BreakerSettings(BaseModel):
    """Settings of the circuit breaker around each logical call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_threshold: int = Field(
        default=5, ge=0, description="Consecutive failed calls that open it (0: off)."
    )
    reset_timeout: float = Field(
        default=5.0, gt=0, allow_inf_nan=False, description="Seconds open before a probe call is let through."
    )
    half_open_probes: int = Field(
        default=1, ge=1, description="Probe calls admitted at once while half-open."
    )


class ResilienceSettings(BaseModel):
    """Settings section that builds a ``ResiliencePolicy``; nest it as ``resilience`` in a library's settings.

    ``retry.attempts=1`` disables retries and ``breaker.failure_threshold=0`` the breaker. The
    sections are the only form: a flat key of the first shape (``attempts``, ``total_timeout``,
    ``initial_wait``, ``max_wait``, ``failure_threshold``, ``reset_timeout``) is a validation
    error naming its place in a section.

    Example:
        ``ResilienceSettings(timeout=2, retry={"attempts": 4}).to_policy("payments")``
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Seconds per attempt (null: no limit)."
    )
    retry: RetrySettings = Field(default_factory=RetrySettings, description="The retry loop.")
    breaker: BreakerSettings = Field(default_factory=BreakerSettings, description="The circuit breaker.")

    if TYPE_CHECKING:  # the signature type checkers see: each section as a model or a dict

        def __init__(
            self,
            *,
            timeout: float | None = None,
            retry: RetrySettings | dict[str, Any] = ...,
            breaker: BreakerSettings | dict[str, Any] = ...,
        ) -> None: ...

    @model_validator(mode="before")
    @classmethod
    def _refuse_flat_keys(cls, data: Any) -> Any:
        """The flat keys of the first shape are no longer read: name each one's place in a section."""
        if isinstance(data, dict):
            moved = [key for key in _MOVED_KEYS if key in data]
            if moved:
                places = ", ".join(f"{key} -> {_MOVED_KEYS[key]}" for key in moved)
                raise ValueError(f"flat resilience keys are not read any more; nest them: {places}")
        return data

    def to_policy(
        self,
        name: str,
        *,
        retry_on: tuple[type[BaseException], ...] = _UNAVAILABLE,
        failure_on: tuple[type[BaseException], ...] = (Exception,),
        excluded: tuple[type[BaseException], ...] = (),
    ) -> ResiliencePolicy:
        """Build the policy; ``name`` labels the retry logs and names the breaker.

        Args:
            name: Label of the retry logs and metrics, and the breaker's name.
            retry_on: Exception types that are retried.
            failure_on: Exception types that count as failures toward the breaker.
            excluded: Exception types that never count as failures (e.g. not-found errors).
        """
        retry = None
        if self.retry.attempts > 1:
            retry = RetryPolicy(
                attempts=self.retry.attempts,
                wait=self.retry.backoff.to_backoff(),
                total_timeout=self.retry.total_timeout,
                retry_on=retry_on,
                name=name,
            )
        breaker = None
        if self.breaker.failure_threshold > 0:
            breaker = CircuitBreaker(
                name,
                failure_threshold=self.breaker.failure_threshold,
                reset_timeout=self.breaker.reset_timeout,
                half_open_probes=self.breaker.half_open_probes,
                failure_on=failure_on,
                excluded=excluded,
            )
        return ResiliencePolicy(timeout=self.timeout, retry=retry, breaker=breaker)
