"""One switch for the commons libraries' telemetry: ``instrument()`` / ``uninstrument()``.

Each commons library that talks to something (cache, rdbms, aws, http, fastapi) has a public
module ``internal_<name>.telemetry`` with ``instrument()`` and ``uninstrument()``. These helpers
import those modules by name, when called (never at import), so internal_base depends on none of
them: a library that is not installed is skipped, unless it was named explicitly.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from types import ModuleType
from typing import Final

#: The commons libraries with a ``telemetry`` module, in the order they are instrumented.
COMMONS_LIBRARIES: Final = ("cache", "rdbms", "aws", "http", "fastapi")
# One instrument()/uninstrument() at a time: concurrent calls would interleave their libraries.
_LOCK: Final = threading.RLock()


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


def _modules(libraries: tuple[str, ...]) -> list[tuple[str, ModuleType]]:
    """Every library's telemetry module, all imported before any is called (import errors first)."""
    names = _names(libraries) if libraries else list(COMMONS_LIBRARIES)
    found = [(name, _telemetry_module(name, required=bool(libraries))) for name in names]
    return [(name, module) for name, module in found if module is not None]


def _is_on(module: ModuleType) -> bool:
    """The library's own ``is_instrumented()``; False when it has none."""
    check = getattr(module, "is_instrumented", None)
    return bool(check()) if callable(check) else False


def _instrument(libraries: tuple[str, ...]) -> list[str]:
    with _LOCK:
        modules = _modules(libraries)
        turned_on: list[tuple[str, ModuleType]] = []
        for name, module in modules:
            was_on = _is_on(module)
            try:
                module.instrument()
            except BaseException as exc:
                for done_name, done in reversed(turned_on):
                    try:
                        done.uninstrument()
                    except Exception as undo_error:  # keep undoing; the first error is the one raised
                        exc.add_note(f"uninstrument({done_name!r}) failed too: {undo_error!r}")
                undone = ", ".join(done_name for done_name, _ in turned_on) or "none"
                exc.add_note(f"instrument({name!r}) failed; turned off again: {undone}")
                raise
            if not was_on:
                turned_on.append((name, module))
        return [name for name, _ in modules]


def _uninstrument(libraries: tuple[str, ...]) -> list[str]:
    with _LOCK:
        modules = _modules(libraries)
        first: BaseException | None = None
        failed: list[str] = []
        for name, module in modules:
            try:
                module.uninstrument()
            except Exception as exc:  # teardown is best effort: the others are still undone
                first = first or exc
                failed.append(name)
        if first is not None:
            which = ", ".join(repr(name) for name in failed)
            first.add_note(f"uninstrument({which}) failed; the others were uninstrumented")
            raise first
        return [name for name, _ in modules]


def instrument(*libraries: str) -> list[str]:
    """Turn on spans and metrics of the commons libraries: ``internal_<name>.telemetry.instrument()``.

    Call it once at startup, after ``configure_telemetry``. Each library's ``instrument`` is
    idempotent and uses the providers of ``current_telemetry()`` (OpenTelemetry's globals before
    any ``configure_telemetry``).

    All or nothing: every name is checked and every library's module imported before any is
    called, so a bad name or an import error instruments nothing. When a library's own
    ``instrument()`` raises, the libraries this call turned on (those whose ``is_instrumented()``
    was false before) are turned off again and that error is raised, with a note naming them.
    Calls from several threads run one after the other.

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
        Exception: Whatever a library's ``instrument()`` raised (after the rollback above).
    """
    return _instrument(libraries)


def uninstrument(*libraries: str) -> list[str]:
    """Undo ``instrument``: ``internal_<name>.telemetry.uninstrument()`` for each library.

    Best effort, as teardown should be: when one library's ``uninstrument()`` raises, the
    others are still uninstrumented, then the first error is raised with a note naming every
    library that failed.

    Args:
        *libraries: Short names as for ``instrument``; none: every installed one.

    Returns:
        The short names uninstrumented.

    Raises:
        ValueError: An unknown library name.
        TypeError: A name that is not a string.
        ImportError: A library named explicitly is not installed; the message names the wheel.
        Exception: Whatever a library's ``uninstrument()`` raised first (after trying them all).
    """
    return _uninstrument(libraries)
