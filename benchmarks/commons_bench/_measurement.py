"""What one benchmark measured: per-op seconds of each variant, round by round, and peak memory."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

__all__ = ["Measurement", "quartiles"]


def quartiles(values: list[float]) -> tuple[float, float]:
    """Lower and upper quartile of ``values`` (both the single value when there is only one)."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


@dataclass(frozen=True)
class Measurement:
    """Seconds per operation of the raw and the commons variant, one value per (interleaved) round.

    Round ``i`` of ``raw`` and round ``i`` of ``commons`` ran back to back, so they saw the same machine
    state; ratios are therefore computed per round and then reduced with the median, which is robust to
    the drift and the outliers of a noisy machine.

    Attributes:
        raw: Seconds per operation of the raw library, per round.
        commons: Seconds per operation of the commons library, per round.
        raw_peak_bytes: Peak traced memory of one raw round, when measured.
        commons_peak_bytes: Peak traced memory of one commons round, when measured.
    """

    raw: tuple[float, ...]
    commons: tuple[float, ...]
    raw_peak_bytes: int | None = None
    commons_peak_bytes: int | None = None

    def __post_init__(self) -> None:
        if not self.raw or len(self.raw) != len(self.commons):
            raise ValueError("raw and commons need the same, non-zero number of rounds")
        if min(self.raw) <= 0 or min(self.commons) <= 0:
            raise ValueError("seconds per operation must be positive")

    @property
    def raw_median(self) -> float:
        """Median seconds per operation of the raw variant."""
        return statistics.median(self.raw)

    @property
    def commons_median(self) -> float:
        """Median seconds per operation of the commons variant."""
        return statistics.median(self.commons)

    @property
    def cost_ratio(self) -> float:
        """Median over rounds of commons cost / raw cost (1.10 = commons takes 10% longer)."""
        return statistics.median(c / r for r, c in zip(self.raw, self.commons, strict=True))

    @property
    def throughput_ratio(self) -> float:
        """Median over rounds of commons throughput / raw throughput (0.90 = 10% fewer ops/s)."""
        return statistics.median(r / c for r, c in zip(self.raw, self.commons, strict=True))

    @property
    def overhead(self) -> float:
        """Median over rounds of the extra seconds per operation that commons adds (may be negative)."""
        return statistics.median(c - r for r, c in zip(self.raw, self.commons, strict=True))

    @property
    def cost_ratio_spread(self) -> tuple[float, float]:
        """Lower and upper quartile of the per-round cost ratios (both the median with one round)."""
        return quartiles([c / r for r, c in zip(self.raw, self.commons, strict=True)])

    @property
    def overhead_spread(self) -> tuple[float, float]:
        """Lower and upper quartile of the per-round overheads (commons - raw seconds per op)."""
        return quartiles([c - r for r, c in zip(self.raw, self.commons, strict=True)])

    @property
    def commons_spread(self) -> tuple[float, float]:
        """Lower and upper quartile of the commons seconds per op."""
        return quartiles(list(self.commons))

    @property
    def memory_ratio(self) -> float | None:
        """Commons peak memory / raw peak memory, when both were measured."""
        if self.raw_peak_bytes is None or self.commons_peak_bytes is None:
            return None
        return self.commons_peak_bytes / max(self.raw_peak_bytes, 1)
