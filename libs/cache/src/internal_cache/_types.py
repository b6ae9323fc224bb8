"""Small shared types: the TTL argument and its conversion to milliseconds."""

from __future__ import annotations

import enum
import math
from typing import Any, Final, Literal

__all__ = ["DEFAULT", "TTL", "Default", "set_command", "ttl_to_ms"]


class Default(enum.Enum):
    """Sentinel type: "use the client's default TTL"."""

    DEFAULT = "DEFAULT"


DEFAULT: Final = Default.DEFAULT
#: A TTL argument: seconds, ``None`` for "no expiry", or :data:`DEFAULT`.
TTL = float | None | Literal[Default.DEFAULT]


def ttl_to_ms(ttl: float) -> int:
    """Seconds to whole milliseconds (rounded up, at least 1); rejects ttl <= 0."""
    if not ttl > 0:  # also rejects NaN
        raise ValueError(f"ttl must be > 0 seconds, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


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
