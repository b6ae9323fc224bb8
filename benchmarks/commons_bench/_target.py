"""Performance targets: what a library issue promises, and how a measurement is judged against it.

Four kinds cover the promises in the library issues:

- ``cost_ratio(1.5)``: commons costs at most 1.5x raw per operation (median of per-round ratios).
- ``throughput_ratio(0.9)``: commons reaches at least 0.9x raw operations per second.
- ``overhead(10e-6)``: commons adds at most 10 µs per operation over raw (median of per-round deltas).
- ``latency(0.12)``: one commons operation takes at most 120 ms (an absolute promise, raw shown beside it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from commons_bench._measurement import Measurement
from commons_bench._units import format_seconds

__all__ = ["Target", "TargetKind"]


class TargetKind(enum.StrEnum):
    """How a target compares the commons variant with the raw one."""

    COST_RATIO = "cost_ratio"
    THROUGHPUT_RATIO = "throughput_ratio"
    OVERHEAD = "overhead"
    LATENCY = "latency"


@dataclass(frozen=True)
class Target:
    """One performance promise.

    Attributes:
        kind: How the measurement is reduced to one judged value.
        limit: The bound on that value (a ratio, or seconds for ``OVERHEAD`` and ``LATENCY``).
    """

    kind: TargetKind
    limit: float

    def __post_init__(self) -> None:
        if self.limit <= 0:
            raise ValueError(f"a target limit must be positive, got {self.limit!r}")

    @classmethod
    def cost_ratio(cls, limit: float) -> Target:
        """Commons may cost at most ``limit`` x raw per operation."""
        return cls(TargetKind.COST_RATIO, limit)

    @classmethod
    def throughput_ratio(cls, limit: float) -> Target:
        """Commons must reach at least ``limit`` x raw operations per second."""
        return cls(TargetKind.THROUGHPUT_RATIO, limit)

    @classmethod
    def overhead(cls, seconds: float) -> Target:
        """Commons may add at most ``seconds`` per operation over raw."""
        return cls(TargetKind.OVERHEAD, seconds)

    @classmethod
    def latency(cls, seconds: float) -> Target:
        """One commons operation may take at most ``seconds`` (median)."""
        return cls(TargetKind.LATENCY, seconds)

    @property
    def higher_is_better(self) -> bool:
        """Whether the judged value must stay above the limit (throughput) rather than below it."""
        return self.kind is TargetKind.THROUGHPUT_RATIO

    def value(self, measurement: Measurement) -> float:
        """The judged value of ``measurement`` for this kind of target."""
        if self.kind is TargetKind.COST_RATIO:
            return measurement.cost_ratio
        if self.kind is TargetKind.THROUGHPUT_RATIO:
            return measurement.throughput_ratio
        if self.kind is TargetKind.OVERHEAD:
            return measurement.overhead
        return measurement.commons_median

    def passed(self, measurement: Measurement) -> bool:
        """Whether ``measurement`` keeps this promise."""
        value = self.value(measurement)
        return value >= self.limit if self.higher_is_better else value <= self.limit

    def describe(self) -> str:
        """The promise as shown in the report's target column (e.g. ``"≤ 1.50x cost"``)."""
        if self.kind is TargetKind.COST_RATIO:
            return f"≤ {self.limit:.2f}x cost"
        if self.kind is TargetKind.THROUGHPUT_RATIO:
            return f"≥ {self.limit:.2f}x throughput"
        if self.kind is TargetKind.OVERHEAD:
            return f"≤ {format_seconds(self.limit, signed=True)}/op"
        return f"≤ {format_seconds(self.limit)}/op"

    def describe_spread(self, measurement: Measurement) -> str:
        """The interquartile range of the judged value over rounds (e.g. ``"0.97..1.08"``)."""
        if self.kind is TargetKind.OVERHEAD:
            low, high = measurement.overhead_spread
            return f"{format_seconds(low, signed=True)}..{format_seconds(high, signed=True)}"
        if self.kind is TargetKind.LATENCY:
            low, high = measurement.commons_spread
            return f"{format_seconds(low)}..{format_seconds(high)}"
        low, high = measurement.cost_ratio_spread
        if self.higher_is_better:
            low, high = 1 / high, 1 / low
        return f"{low:.2f}..{high:.2f}"

    def describe_value(self, measurement: Measurement) -> str:
        """The judged value as shown in the report's ratio column (e.g. ``"1.23x cost"``)."""
        if self.kind is TargetKind.COST_RATIO:
            return f"{measurement.cost_ratio:.2f}x cost"
        if self.kind is TargetKind.THROUGHPUT_RATIO:
            return f"{measurement.throughput_ratio:.2f}x throughput"
        if self.kind is TargetKind.OVERHEAD:
            overhead = format_seconds(measurement.overhead, signed=True)
            return f"{overhead}/op ({measurement.cost_ratio:.2f}x cost)"
        return f"{format_seconds(measurement.commons_median)}/op ({measurement.cost_ratio:.2f}x cost)"
