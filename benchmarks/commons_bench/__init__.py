"""The commons benchmark harness: each library's promises measured against the raw library, side by side.

Libraries contribute rows through one interface (see :mod:`commons_bench._benchmark`): a ``suite(ctx)``
async context manager yielding :class:`Benchmark` objects, each with a raw and a commons runner and an
optional :class:`Target`.
"""

from __future__ import annotations

from commons_bench._benchmark import BenchContext, Benchmark, CurvePoint, Runner, Suite
from commons_bench._concurrency import run_concurrently, run_sequentially
from commons_bench._measurement import Measurement
from commons_bench._services import ServiceUnavailable, serve_asgi
from commons_bench._target import Target, TargetKind

__all__ = [
    "BenchContext",
    "Benchmark",
    "CurvePoint",
    "Measurement",
    "Runner",
    "ServiceUnavailable",
    "Suite",
    "Target",
    "TargetKind",
    "run_concurrently",
    "run_sequentially",
    "serve_asgi",
]
