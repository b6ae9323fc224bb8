"""Command line: ``./pants run benchmarks:run -- [--only base,cache] [--quick] [--output BENCHMARKS.md]``."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from commons_bench._benchmark import BenchContext
from commons_bench._registry import LIBRARIES, Library
from commons_bench._report import Header, render, splice
from commons_bench._result import Status
from commons_bench._runner import Selection, run_libraries
from commons_bench._services import new_key_prefix, redis_url_from_env
from commons_bench._timing import Plan

__all__ = ["main"]

_RAW_PACKAGES = ("redis", "hiredis", "httpx", "python-json-logger", "uvicorn", "tenacity")


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(library.name for library in LIBRARIES)
    parser = argparse.ArgumentParser(
        prog="commons_bench",
        description="Measure each commons library against the raw library underneath, interleaved.",
    )
    parser.add_argument("--only", default="", help=f"comma-separated libraries (default: all of {names})")
    parser.add_argument("--match", default=None, help="only benchmarks whose operation contains this text")
    parser.add_argument("--quick", action="store_true", help="smoke run: a tenth of the operations, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per variant (15; quick 3)")
    parser.add_argument("--output", type=Path, default=None, help="write or refresh this report file")
    parser.add_argument("--profile", default=None, help="cProfile benchmarks whose operation has this text")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser


def _select(only: str) -> list[Library]:
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    known = {library.name: library for library in LIBRARIES}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SystemExit(f"unknown library {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in wanted] if wanted else list(LIBRARIES)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _versions() -> list[tuple[str, str]]:
    found = []
    for name in _RAW_PACKAGES:
        try:
            found.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _header(argv: Sequence[str], plan: Plan) -> Header:
    args = " ".join(shlex.quote(arg) for arg in argv)
    return Header(
        command=f"./pants run benchmarks:run -- {args}".rstrip(),
        machine=(
            f"{os.cpu_count()} cores ({_cpu_model()}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; shared and noisy, so judge ratios, not absolute times"
        ),
        when=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        plan=(
            f"{plan.warmup} warm-up + {plan.rounds} timed rounds per variant (unless a row sets its own), "
            "raw and commons interleaved in one process; medians, ratios = median of per-round ratios"
        ),
        versions=_versions(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, print the report, and refresh ``--output`` when given.

    Returns:
        0 when everything selected ran (missed targets only fail with ``--strict``), 1 otherwise.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(args_list)
    plan = Plan.quick() if args.quick else Plan()
    if args.rounds is not None:
        plan = Plan(rounds=args.rounds, warmup=plan.warmup, ops_divisor=plan.ops_divisor)
    ctx = BenchContext(quick=args.quick, redis_url=redis_url_from_env(), key_prefix=new_key_prefix())
    selection = Selection(plan=plan, match=args.match, profile=args.profile)
    results = asyncio.run(run_libraries(_select(args.only), ctx, selection))
    generated = render(results, _header(args_list, plan))
    print(generated)
    if args.output is not None:
        existing = args.output.read_text() if args.output.exists() else None
        args.output.write_text(splice(existing, generated))
        print(f"wrote {args.output}", file=sys.stderr)
    statuses = {result.status for result in results}
    if statuses & {Status.ERROR, Status.SKIPPED} or not results:
        return 1
    return 1 if args.strict and Status.FAIL in statuses else 0


if __name__ == "__main__":
    raise SystemExit(main())
