"""Human formatting of durations, rates and sizes for the report."""

from __future__ import annotations

__all__ = ["format_bytes", "format_rate", "format_seconds"]

_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def _three_digits(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_seconds(seconds: float, *, signed: bool = False) -> str:
    """Format a duration with three significant digits in s, ms, µs or ns (e.g. ``"85.2 µs"``).

    Args:
        seconds: The duration; may be negative (an overhead below zero).
        signed: Prefix ``+`` to non-negative values.
    """
    sign = "+" if signed and seconds >= 0 else ""
    magnitude = abs(seconds)
    for scale, unit in _TIME_UNITS:
        if magnitude >= scale or scale == _TIME_UNITS[-1][0]:
            return f"{sign}{_three_digits(seconds / scale)} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_rate(ops_per_second: float, unit: str = "op") -> str:
    """Format a throughput per second, three significant digits at least (e.g. ``"12,345 GET/s"``)."""
    value = f"{ops_per_second:,.0f}" if ops_per_second >= 100 else _three_digits(ops_per_second)
    return f"{value} {unit}/s"


def format_bytes(size: int) -> str:
    """Format a byte count in B, KiB or MiB (e.g. ``"1.50 MiB"``)."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.2f} MiB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f} KiB"
    return f"{size} B"
