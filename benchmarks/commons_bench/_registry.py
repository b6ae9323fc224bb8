"""Which libraries contribute benchmarks, where their suites live, and which services they need."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from commons_bench._benchmark import Suite

__all__ = ["LIBRARIES", "Library", "load_suite"]


@dataclass(frozen=True)
class Library:
    """One library's entry in the harness.

    Attributes:
        name: The library (``base``, ``cache``, ...), as given to ``--only``.
        modules: Modules tried in order for a ``suite`` attribute, normally just the library's own
            ``libs/<lib>/benchmarks/bench_<lib>.py`` (``bench_<lib>``).
        needs_redis: Whether the suite talks to Redis (probed before the suite starts).
    """

    name: str
    modules: tuple[str, ...]
    needs_redis: bool = False


# Each library adds itself here with its own bench_<lib>.py that
# defines `suite(ctx)` (see commons_bench._benchmark), and a dependency of benchmarks:run on it.
LIBRARIES: tuple[Library, ...] = (
    Library("base", ("bench_base",)),
    Library("cache", ("bench_cache",), needs_redis=True),
    Library("http", ("bench_http",)),
    Library("rdbms", ("bench_rdbms",)),
    Library("fastapi", ("bench_fastapi",)),
    Library("aws", ("bench_aws",)),
)


def load_suite(library: Library) -> Suite:
    """The first ``suite`` found in ``library.modules``.

    Raises:
        LookupError: When no module defines ``suite`` (each module's problem is named).
    """
    problems: list[str] = []
    for name in library.modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                problems.append(f"{name}: not found")
                continue
            raise
        suite = getattr(module, "suite", None)
        if callable(suite):
            return suite  # type: ignore[no-any-return]
        problems.append(f"{name}: defines no suite(ctx)")
    raise LookupError(f"no benchmark suite for {library.name} ({'; '.join(problems)})")
