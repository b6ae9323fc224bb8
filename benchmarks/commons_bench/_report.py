"""Markdown rendering: the results table, one small table per curve, and the generated-section splice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from commons_bench._measurement import Measurement
from commons_bench._result import Result, Status
from commons_bench._target import Target
from commons_bench._units import format_bytes, format_rate, format_seconds

__all__ = ["BEGIN_MARKER", "END_MARKER", "Header", "render", "splice"]

BEGIN_MARKER = "<!-- BEGIN GENERATED: commons_bench -->"
END_MARKER = "<!-- END GENERATED: commons_bench -->"


@dataclass(frozen=True)
class Header:
    """What the report says about how it was produced.

    Attributes:
        command: The command that reproduces the report.
        machine: One line about the machine (cores, Python, platform).
        when: When the run happened.
        plan: One line about rounds and warm-up.
        versions: ``(package, version)`` of the raw libraries measured against.
    """

    command: str
    machine: str
    when: str
    plan: str
    versions: Sequence[tuple[str, str]] = ()


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(head), line(["---"] * len(head)), *(line(row) for row in rows)]


def _variant(seconds: float, unit: str, target: Target | None) -> str:
    if target is not None and target.higher_is_better:
        return format_rate(1 / seconds, unit)
    return f"{format_seconds(seconds)}/{unit}"


def _ratio(measurement: Measurement, target: Target | None) -> str:
    if target is None:
        return f"{measurement.cost_ratio:.2f}x cost"
    return target.describe_value(measurement)


def _spread(measurement: Measurement, target: Target | None) -> str:
    if target is not None:
        return target.describe_spread(measurement)
    low, high = measurement.cost_ratio_spread
    return f"{low:.2f}..{high:.2f}"


def _memory(result: Result) -> str:
    m = result.measurement
    if m is None or m.raw_peak_bytes is None or m.commons_peak_bytes is None:
        return ""
    text = f"{format_bytes(m.raw_peak_bytes)} → {format_bytes(m.commons_peak_bytes)}"
    return text if result.memory_limit is None else f"{text} (≤ {result.memory_limit:.2f}x)"


def _verdict(result: Result) -> str:
    status = result.status
    if status is Status.FAIL:
        return "**FAIL**"
    if result.problem is not None:
        return f"{status.value}: {result.problem}"
    return status.value


def _row(result: Result) -> list[str]:
    m = result.measurement
    target = result.target
    target_text = target.describe() if target is not None else "—"
    if m is None:
        return [result.library, result.operation, "", "", "", "", target_text, _verdict(result), ""]
    return [
        result.library,
        result.operation,
        _variant(m.raw_median, result.unit, target),
        _variant(m.commons_median, result.unit, target),
        _ratio(m, target),
        _spread(m, target),
        target_text,
        _verdict(result),
        _memory(result),
    ]


def _curve_tables(results: Sequence[Result]) -> list[str]:
    curves: dict[str, list[Result]] = {}
    for result in results:
        if result.curve is not None and result.measurement is not None:
            curves.setdefault(f"{result.library}: {result.curve.curve}", []).append(result)
    lines: list[str] = []
    for title, points in curves.items():
        points.sort(key=lambda r: r.curve.x if r.curve is not None else 0.0)
        first, first_curve = points[0].measurement, points[0].curve
        assert first is not None
        assert first_curve is not None
        head = [first_curve.x_label, "raw", "commons", "ratio", "IQR", "raw growth", "commons growth"]
        head += ["target", "pass/fail"]
        rows = []
        for point in points:
            m = point.measurement
            assert m is not None
            assert point.curve is not None
            rows.append(
                [
                    f"{point.curve.x:g}",
                    f"{format_seconds(m.raw_median)}/{point.unit}",
                    f"{format_seconds(m.commons_median)}/{point.unit}",
                    _ratio(m, point.target),
                    _spread(m, point.target),
                    f"{m.raw_median / first.raw_median:.2f}x",
                    f"{m.commons_median / first.commons_median:.2f}x",
                    point.target.describe() if point.target is not None else "—",
                    _verdict(point),
                ]
            )
        lines += ["", f"### {title}", "", *_table(head, rows)]
    return lines


def render(results: Sequence[Result], header: Header) -> str:
    """The generated part of ``BENCHMARKS.md`` (between the markers), as markdown."""
    table_rows = [r for r in results if r.curve is None or r.measurement is None]
    head = ["library", "operation", "raw", "commons", "ratio", "IQR", "target", "pass/fail"]
    head.append("peak memory (raw → commons)")
    if not any(_memory(r) for r in table_rows):
        head = head[:-1]
    rows = [_row(r)[: len(head)] for r in table_rows]
    counts = {status: sum(1 for r in results if r.status is status) for status in Status}
    summary = ", ".join(f"{count} {status.value}" for status, count in counts.items() if count)
    versions = ", ".join(f"{name} {version}" for name, version in header.versions)
    lines = [
        BEGIN_MARKER,
        "",
        "```sh",
        header.command,
        "```",
        "",
        f"- Machine: {header.machine}",
        f"- Run: {header.when}; {header.plan}",
    ]
    if versions:
        lines.append(f"- Raw libraries: {versions}")
    lines += [f"- Verdicts: {summary or 'nothing ran'}", "", "## Results", "", *_table(head, rows)]
    notes = [f"- {r.library} / {r.operation}: {r.note}" for r in results if r.note and r.curve is None]
    if notes:
        lines += ["", *notes]
    curve_lines = _curve_tables(results)
    if curve_lines:
        lines += ["", "## Curves", *curve_lines]
    lines += ["", END_MARKER]
    return "\n".join(lines) + "\n"


def splice(existing: str | None, generated: str, title: str = "# Benchmarks") -> str:
    """Replace the generated section of ``existing`` (keeping hand-written text around it).

    Without an existing document, or one without markers, the result is a new document: ``title``
    followed by the generated section.
    """
    if existing is not None:
        start = existing.find(BEGIN_MARKER)
        end = existing.find(END_MARKER)
        if 0 <= start < end:
            return existing[:start] + generated.rstrip("\n") + existing[end + len(END_MARKER) :]
    return f"{title}\n\n{generated}"
