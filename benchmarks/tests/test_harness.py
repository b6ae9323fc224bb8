"""The harness's own logic: medians, ratios, verdicts, timing bookkeeping and the markdown it writes."""

from __future__ import annotations

import asyncio

import pytest

from commons_bench import Benchmark, CurvePoint, Measurement, Target, run_concurrently
from commons_bench._registry import Library, load_suite
from commons_bench._report import BEGIN_MARKER, END_MARKER, Header, render, splice
from commons_bench._result import Result, Status
from commons_bench._timing import Plan, measure
from commons_bench._units import format_bytes, format_rate, format_seconds

HEADER = Header(command="./pants run benchmarks:run --", machine="2 cores", when="today", plan="7 rounds")


def test_medians_are_per_variant() -> None:
    """The reported raw and commons values are the medians of their rounds."""
    m = Measurement(raw=(1.0, 3.0, 2.0), commons=(4.0, 2.0, 9.0))
    assert (m.raw_median, m.commons_median) == (2.0, 4.0)


def test_ratio_is_median_of_paired_rounds() -> None:
    """Ratios pair round i of raw with round i of commons, so a slow round does not skew them."""
    m = Measurement(raw=(1.0, 2.0, 10.0), commons=(1.1, 2.4, 12.0))
    assert m.cost_ratio == pytest.approx(1.2)
    assert m.throughput_ratio == pytest.approx(1 / 1.2)
    assert m.overhead == pytest.approx(0.4)


def test_spread_is_interquartile_range_of_paired_ratios() -> None:
    """The IQR column shows how much the per-round ratio moved; throughput targets show it inverted."""
    m = Measurement(raw=(1.0, 1.0, 1.0, 1.0, 1.0), commons=(1.0, 1.1, 1.2, 1.3, 2.0))
    assert m.cost_ratio_spread == pytest.approx((1.1, 1.3))
    assert Target.cost_ratio(1.5).describe_spread(m) == "1.10..1.30"
    assert Target.throughput_ratio(0.9).describe_spread(m) == "0.77..0.91"
    assert Target.overhead(1.0).describe_spread(m) == "+100 ms..+300 ms"
    assert Target.latency(2.0).describe_spread(m) == "1.10 s..1.30 s"


def test_measurement_rejects_unpaired_rounds() -> None:
    """Raw and commons must have run the same number of rounds."""
    with pytest.raises(ValueError, match="same"):
        Measurement(raw=(1.0, 2.0), commons=(1.0,))


@pytest.mark.parametrize(
    ("target", "commons", "passed"),
    [
        (Target.cost_ratio(1.5), 1.4e-6, True),
        (Target.cost_ratio(1.5), 1.6e-6, False),
        (Target.throughput_ratio(0.9), 1.1e-6, True),  # 1/1.1 = 0.909 of raw throughput
        (Target.throughput_ratio(0.9), 1.2e-6, False),  # 0.833
        (Target.overhead(10e-6), 9e-6, True),
        (Target.overhead(10e-6), 12e-6, False),
        (Target.latency(5e-6), 4e-6, True),
        (Target.latency(5e-6), 6e-6, False),
    ],
)
def test_target_verdicts(target: Target, commons: float, passed: bool) -> None:
    """Each kind of target compares the right quantity in the right direction (raw = 1 µs/op)."""
    m = Measurement(raw=(1e-6,), commons=(commons,))
    assert target.passed(m) is passed


def test_target_texts() -> None:
    """Targets and their judged values read naturally in the table."""
    m = Measurement(raw=(2e-6,), commons=(3e-6,))
    assert Target.cost_ratio(1.1).describe() == "≤ 1.10x cost"
    assert Target.throughput_ratio(0.95).describe() == "≥ 0.95x throughput"
    assert Target.overhead(10e-6).describe() == "≤ +10.0 µs/op"
    assert Target.overhead(10e-6).describe_value(m) == "+1.00 µs/op (1.50x cost)"
    assert Target.throughput_ratio(0.9).describe_value(m) == "0.67x throughput"


def test_units() -> None:
    """Durations keep three significant digits in a fitting unit; sizes and rates are readable."""
    assert format_seconds(85.23e-6) == "85.2 µs"
    assert format_seconds(0.1013) == "101 ms"
    assert format_seconds(-2.5e-6, signed=True) == "-2.50 µs"
    assert format_seconds(3e-10) == "0.30 ns"
    assert format_rate(12345.4) == "12,345 op/s"
    assert format_rate(8.354, "pipeline") == "8.35 pipeline/s"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 << 20) == "3.00 MiB"


def test_memory_limit_fails_the_row() -> None:
    """A row with a memory promise fails when commons peaks above limit x raw, even if fast enough."""
    m = Measurement(raw=(1.0,), commons=(1.0,), raw_peak_bytes=1000, commons_peak_bytes=1500)
    row = Result("aws", "stream", target=Target.cost_ratio(1.1), measurement=m, memory_limit=1.2)
    assert (row.memory_passed, row.status) == (False, Status.FAIL)


def test_statuses_without_measurement() -> None:
    """Rows that did not run are skipped (service missing) or errors, never passes."""
    assert Result.failed("cache", "(all)", "no Redis", skipped=True).status is Status.SKIPPED
    assert Result.failed("cache", "GET", "boom").status is Status.ERROR
    assert Result("cache", "GET", measurement=Measurement((1.0,), (1.0,))).status is Status.INFO


def test_plan_scales_ops_and_rounds() -> None:
    """Quick runs do a tenth of the operations (down to min_ops) and cap a benchmark's own rounds."""
    bench = Benchmark("x", raw=lambda n: None, commons=lambda n: None, ops=25, rounds=11)
    curve = Benchmark("y", raw=lambda n: None, commons=lambda n: None, ops=64, min_ops=16)
    assert (Plan().ops_for(bench), Plan().rounds_for(bench)) == (25, 11)
    assert (Plan.quick().ops_for(bench), Plan.quick().rounds_for(bench)) == (2, 3)
    assert Plan.quick().ops_for(curve) == 16


def test_measure_interleaves_and_counts_operations() -> None:
    """Warm-up plus timed rounds run each variant alternately, with ops operations per call."""
    calls: list[tuple[str, int]] = []

    def raw(n: int) -> None:
        calls.append(("raw", n))

    async def commons(n: int) -> None:
        calls.append(("commons", n))
        await asyncio.sleep(0)

    bench = Benchmark("x", raw=raw, commons=commons, ops=40, track_memory=True)
    m = asyncio.run(measure(bench, Plan(rounds=3, warmup=1, ops_divisor=10)))
    order = [name for name, _ in calls]
    assert order == ["raw", "commons", "raw", "commons", "commons", "raw", "raw", "commons", "raw", "commons"]
    assert {n for _, n in calls} == {4}
    assert len(m.raw) == len(m.commons) == 3
    assert m.raw_peak_bytes is not None
    assert m.commons_peak_bytes is not None


def test_runner_may_report_its_own_seconds() -> None:
    """A runner returning a float (summed waits of contenders) is divided by n instead of wall time."""

    async def raw(n: int) -> float:
        return 0.002 * n

    async def commons(n: int) -> float:
        return 0.003 * n

    m = asyncio.run(measure(Benchmark("x", raw=raw, commons=commons, ops=10), Plan(rounds=3)))
    assert m.raw_median == pytest.approx(0.002)
    assert m.commons_median == pytest.approx(0.003)


def test_run_concurrently_runs_each_index_once_per_task_residue() -> None:
    """Every index runs once, and each task gets the indices of one residue (one lock per task)."""
    seen: list[tuple[int, str]] = []

    async def op(index: int) -> None:
        task = asyncio.current_task()
        seen.append((index, task.get_name() if task else ""))
        await asyncio.sleep(0)

    asyncio.run(run_concurrently(10, 3, op))
    assert sorted(index for index, _ in seen) == list(range(10))
    by_task: dict[str, set[int]] = {}
    for index, task_name in seen:
        by_task.setdefault(task_name, set()).add(index % 3)
    assert sorted(len(residues) for residues in by_task.values()) == [1, 1, 1]


def test_render_table_and_curves() -> None:
    """The report has the results table with verdicts and one table per curve, growth relative to x=1."""
    fast = Measurement(raw=(100e-6, 100e-6), commons=(105e-6, 105e-6))
    slow = Measurement(raw=(400e-6, 400e-6), commons=(630e-6, 630e-6))
    curve = "lock acquire latency by contention"
    results = [
        Result("cache", "GET sequential", "GET", Target.throughput_ratio(0.9), fast),
        Result("cache", "lock acquire+release", "lock", Target.cost_ratio(1.2), slow),
        Result("cache", "lock x1", "acquire", None, fast, curve=CurvePoint(curve, "contenders", 1)),
        Result("cache", "lock x4", "acquire", None, slow, curve=CurvePoint(curve, "contenders", 4)),
        Result.failed("http", "(all benchmarks)", "server did not start"),
    ]
    text = render(results, HEADER)
    lines = text.splitlines()
    assert (lines[0], lines[-1]) == (BEGIN_MARKER, END_MARKER)
    get = "| cache | GET sequential | 10,000 GET/s | 9,524 GET/s | 0.95x throughput | 0.95..0.95 |"
    lock = "| cache | lock acquire+release | 400 µs/lock | 630 µs/lock | 1.57x cost | 1.57..1.57 |"
    assert f"{get} ≥ 0.90x throughput | pass |" in lines
    assert f"{lock} ≤ 1.20x cost | **FAIL** |" in lines
    assert "| http | (all benchmarks) |  |  |  |  | — | error: server did not start |" in lines
    assert f"### cache: {curve}" in lines
    assert (
        "| 4 | 400 µs/acquire | 630 µs/acquire | 1.57x cost | 1.57..1.57 | 4.00x | 6.00x | — | — |" in lines
    )
    assert "- Verdicts: 1 pass, 1 FAIL, 2 —, 1 error" in lines


def test_splice_keeps_hand_written_text() -> None:
    """Refreshing the report replaces only the generated section."""
    old = f"# Benchmarks\n\nintro\n\n{BEGIN_MARKER}\nold table\n{END_MARKER}\n\n## Findings\nkept\n"
    new = f"{BEGIN_MARKER}\nnew table\n{END_MARKER}\n"
    expected = f"# Benchmarks\n\nintro\n\n{BEGIN_MARKER}\nnew table\n{END_MARKER}\n\n## Findings\nkept\n"
    assert splice(old, new) == expected
    assert splice(None, new) == f"# Benchmarks\n\n{new}"


def test_load_suite_names_what_is_missing() -> None:
    """A library without a suite module is reported with the modules that were tried."""
    with pytest.raises(LookupError, match="bench_nowhere: not found"):
        load_suite(Library("nowhere", ("bench_nowhere",)))
