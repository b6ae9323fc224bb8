"""One switch for the commons libraries' telemetry: ``instrument()`` / ``uninstrument()``.

Each commons library that talks to something (cache, rdbms, aws, http, fastapi) has a public
module ``internal_<name>.telemetry`` with ``instrument()`` and ``uninstrument()``. These helpers
import those modules by name, when called (never at import), so internal_base depends on none of
them: a library that is not installed is skipped, unless it was named explicitly.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Final

#: The commons libraries with a ``telemetry`` module, in the order they are instrumented.
COMMONS_LIBRARIES: Final = ("cache", "rdbms", "aws", "http", "fastapi")


def _names(libraries: tuple[str, ...]) -> list[str]:
    """The short names of ``libraries`` (``internal_cache``/``internal-cache`` → ``cache``), checked."""
    names: list[str] = []
    for library in libraries:
        if not isinstance(library, str):
            raise TypeError(f"library names are strings such as 'cache'; got {library!r}")
        name = library.strip().lower().replace("-", "_").removeprefix("internal_")
        if name not in COMMONS_LIBRARIES:
            known = ", ".join(COMMONS_LIBRARIES)
            raise ValueError(f"unknown commons library {library!r}; choose from {known}")
        if name not in names:
            names.append(name)
    return names


def _telemetry_module(name: str, *, required: bool) -> ModuleType | None:
    """``internal_<name>.telemetry``; None when the library is not installed and not ``required``.

    Raises:
        ImportError: The library is required and not installed (names the wheel), or it is
            installed without a ``telemetry`` module. An import error inside the module
            (a missing instrumentation package) propagates as it is.
    """
    package = f"internal_{name}"
    wheel = f"internal-{name}"
    if importlib.util.find_spec(package) is None:
        if not required:
            return None
        raise ImportError(f"{package} is not installed; install the {wheel!r} wheel to instrument {name!r}")
    try:
        return importlib.import_module(f"{package}.telemetry")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.telemetry":
            raise
        raise ImportError(
            f"{package} is installed but has no telemetry module; upgrade the {wheel!r} wheel"
        ) from exc


def _apply(libraries: tuple[str, ...], action: str) -> list[str]:
    names = _names(libraries) if libraries else list(COMMONS_LIBRARIES)
    done: list[str] = []
    for name in names:
        module = _telemetry_module(name, required=bool(libraries))
        if module is not None:
            getattr(module, action)()
            done.append(name)
    return done


def instrument(*libraries: str) -> list[str]:
    """Turn on spans and metrics of the commons libraries: ``internal_<name>.telemetry.instrument()``.

    Call it once at startup, after ``configure_telemetry``. Each library's ``instrument`` is
    idempotent and uses the providers of ``current_telemetry()`` (OpenTelemetry's globals before
    any ``configure_telemetry``).

    Args:
        *libraries: Short names (``"cache"``, ``"rdbms"``, ``"aws"``, ``"http"``, ``"fastapi"``;
            ``"internal_cache"`` is accepted too). None: every one of them that is installed.

    Returns:
        The short names instrumented, in ``COMMONS_LIBRARIES`` order for the default, else as given.

    Raises:
        ValueError: An unknown library name.
        TypeError: A name that is not a string.
        ImportError: A library named explicitly is not installed (the message names the wheel), an
            installed one has no ``telemetry`` module, or importing one fails (e.g. its
            OpenTelemetry instrumentation package is missing): never skipped silently.
    """
    return _apply(libraries, "instrument")


def uninstrument(*libraries: str) -> list[str]:
    """Undo ``instrument``: ``internal_<name>.telemetry.uninstrument()`` for each library.

    Args:
        *libraries: Short names as for ``instrument``; none: every installed one.

    Returns:
        The short names uninstrumented.

    Raises:
        ValueError: An unknown library name.
        TypeError: A name that is not a string.
        ImportError: A library named explicitly is not installed; the message names the wheel.
    """
    return _apply(libraries, "uninstrument")
