"""One reported row: a measured benchmark, or why it could not be measured."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from commons_bench._benchmark import Benchmark, CurvePoint
from commons_bench._measurement import Measurement
from commons_bench._target import Target

__all__ = ["Result", "Status"]


class Status(enum.StrEnum):
    """The verdict shown in the report's pass/fail column."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "FAIL"
    INFO = "—"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True)
class Result:
    """A benchmark's outcome.

    Attributes:
        library: The library that contributed the row (``base``, ``cache``, ...).
        operation: What one operation is.
        unit: Name of one operation.
        target: The promise judged, if any.
        measurement: The timings, unless the row was skipped or failed.
        memory_limit: Bound on commons/raw peak memory, if the row promises one.
        curve: Where the row sits on a curve, if it does.
        note: A remark shown under the table.
        problem: Why there is no measurement (a missing service, an exception).
        skipped: Whether ``problem`` is a skip (service missing) rather than an error.
    """

    library: str
    operation: str
    unit: str = "op"
    target: Target | None = None
    measurement: Measurement | None = None
    memory_limit: float | None = None
    curve: CurvePoint | None = None
    note: str = ""
    problem: str | None = None
    skipped: bool = False

    @classmethod
    def measured(cls, library: str, benchmark: Benchmark, measurement: Measurement) -> Result:
        """The row for a benchmark that ran."""
        return cls(
            library=library,
            operation=benchmark.operation,
            unit=benchmark.unit,
            target=benchmark.target,
            measurement=measurement,
            memory_limit=benchmark.memory_limit,
            curve=benchmark.curve,
            note=benchmark.note,
        )

    @classmethod
    def failed(cls, library: str, operation: str, problem: str, *, skipped: bool = False) -> Result:
        """The row for a benchmark (or a whole suite) that could not run."""
        return cls(library=library, operation=operation, problem=problem, skipped=skipped)

    @property
    def memory_passed(self) -> bool | None:
        """Whether the memory promise holds; ``None`` when there is none or nothing was measured."""
        if self.memory_limit is None or self.measurement is None:
            return None
        ratio = self.measurement.memory_ratio
        return None if ratio is None else ratio <= self.memory_limit

    @property
    def status(self) -> Status:
        """Pass when every promise of the row holds, fail when one does not."""
        if self.measurement is None:
            return Status.SKIPPED if self.skipped else Status.ERROR
        verdicts = [v for v in (self.memory_passed,) if v is not None]
        if self.target is not None:
            verdicts.append(self.target.passed(self.measurement))
        if not verdicts:
            return Status.INFO
        return Status.PASS if all(verdicts) else Status.FAIL
