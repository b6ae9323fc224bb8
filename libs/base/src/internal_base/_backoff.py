"""``Backoff``: how long to wait before attempt ``n + 1``, the one schedule every wait in the family uses.

Exponential growth from ``initial`` by ``multiplier`` up to ``maximum``, with full jitter by default
(a uniform draw between 0 and that cap, as in the AWS architecture blog's "Exponential Backoff And
Jitter"): many clients that failed together do not come back together. The value object only
computes; waiting is done by ``internal_base.resilience.sleep`` so ``testing()`` turns it off.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from internal_base._errors import ConfigurationError


def _number(name: str, value: object) -> float:
    # bool is an int; "jitter=True" passed positionally by mistake must not read as 1 second.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"Backoff.{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigurationError(f"Backoff.{name} must be finite, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    """Exponential backoff with optional full jitter.

    The cap before attempt ``n + 1`` (after ``n`` failures) is
    ``min(maximum, initial * multiplier ** (n - 1))``; with ``jitter`` the wait is drawn uniformly
    from ``[0, cap]``, without it the wait is the cap.

    Args:
        initial: Cap of the first wait, in seconds (> 0).
        maximum: Upper bound of any wait, in seconds (>= ``initial``).
        multiplier: Growth factor per attempt (>= 1; 1 gives a constant cap).
        jitter: Draw each wait uniformly below its cap (default) instead of waiting the cap.

    Raises:
        ConfigurationError: A value is out of range or not a number.

    Example:
        ``Backoff(initial=0.05, maximum=1.0).delay(3)`` is at most 0.2 seconds.
    """

    initial: float = 0.1
    maximum: float = 5.0
    multiplier: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        initial = _number("initial", self.initial)
        maximum = _number("maximum", self.maximum)
        multiplier = _number("multiplier", self.multiplier)
        if initial <= 0:
            raise ConfigurationError(f"Backoff.initial must be > 0 seconds, got {self.initial!r}")
        if maximum < initial:
            raise ConfigurationError(
                f"Backoff.maximum ({self.maximum!r}) must be >= Backoff.initial ({self.initial!r})"
            )
        if multiplier < 1:
            raise ConfigurationError(f"Backoff.multiplier must be >= 1, got {self.multiplier!r}")
        if not isinstance(self.jitter, bool):
            raise ConfigurationError(f"Backoff.jitter must be True or False, got {self.jitter!r}")

    def cap(self, attempt: int) -> float:
        """The longest wait after ``attempt`` failed attempts (the wait itself when jitter is off).

        Raises:
            ValueError: ``attempt`` is not a positive integer.
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt must be an integer >= 1, got {attempt!r}")
        try:
            grown = self.initial * self.multiplier ** (attempt - 1)
        except OverflowError:  # huge attempt numbers (a poll loop running for days)
            return self.maximum
        return min(self.maximum, grown)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after ``attempt`` failed attempts (1 for the first retry).

        Raises:
            ValueError: ``attempt`` is not a positive integer.
        """
        cap = self.cap(attempt)
        if not self.jitter:
            return cap
        return random.uniform(0.0, cap)  # noqa: S311 - jitter, not cryptography

    def delays(self) -> Iterator[float]:
        """Endless ``delay(1), delay(2), ...``: ``for pause in backoff.delays(): ...`` in a poll loop."""
        attempt = 1
        while True:
            yield self.delay(attempt)
            attempt += 1
