"""Small shared types: the TTL argument and its conversion to milliseconds."""

from __future__ import annotations

import enum
import math
from datetime import timedelta
from typing import Any, Final, Literal

__all__ = ["DEFAULT", "TTL", "Default", "set_command", "ttl_to_ms"]


class Default(enum.Enum):
    """Sentinel type: "use the client's default TTL"."""

    DEFAULT = "DEFAULT"


DEFAULT: Final = Default.DEFAULT
#: A TTL argument: seconds (or a ``timedelta``), ``None`` for "no expiry", or :data:`DEFAULT`.
TTL = float | timedelta | None | Literal[Default.DEFAULT]

#: The longest TTL accepted: Redis refuses an expiry whose absolute time overflows 64 bits.
MAX_TTL_MS: Final = 2**62


def ttl_to_ms(ttl: float | timedelta) -> int:
    """Seconds (or a ``timedelta``) to whole milliseconds (rounded up, at least 1).

    Raises:
        TypeError: ``ttl`` is a bool or not a number/timedelta.
        ValueError: ``ttl`` is not > 0, not finite, or longer than Redis can store.
    """
    if isinstance(ttl, timedelta):
        ttl = ttl.total_seconds()
    elif isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"ttl must be seconds (int/float) or a timedelta, not {type(ttl).__name__}")
    if not 0 < ttl < math.inf:  # also rejects NaN
        raise ValueError(f"ttl must be > 0 seconds and finite, got {ttl!r}")
    ms = max(1, math.ceil(ttl * 1000))
    if ms > MAX_TTL_MS:
        raise ValueError(f"ttl of {ttl!r} seconds is longer than Redis can store ({MAX_TTL_MS // 1000}s)")
    return ms


def set_command(key: str, value: Any, px: int | None, nx: bool, xx: bool) -> tuple[Any, ...]:
    """The arguments of a SET command.

    Built directly (instead of through redis-py's ``set()``, which validates a dozen
    options on every call) because SET is on the hot path of the client and pipelines.
    """
    if not (px or nx or xx):
        return ("SET", key, value)
    if nx and xx:
        raise ValueError("nx and xx are mutually exclusive")
    args: list[Any] = ["SET", key, value]
    if nx:
        args.append("NX")
    elif xx:
        args.append("XX")
    if px is not None:
        args += ("PX", px)
    return tuple(args)
