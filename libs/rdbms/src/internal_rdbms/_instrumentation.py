"""The engines every :class:`Database` creates, for ``internal_rdbms.telemetry`` (no OpenTelemetry here).

``Database`` registers its request engines; while telemetry is instrumented, a hook attaches spans to
each new one. Off, registration is one set insertion and one ``None`` check per engine, nothing per query.
"""

from __future__ import annotations

from collections.abc import Callable
from weakref import WeakSet

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["register_engine", "registered_engines", "set_engine_hook", "unregister_engine"]

_ENGINES: WeakSet[Engine] = WeakSet()
_HOOK: list[Callable[[Engine], None]] = []


def register_engine(engine: AsyncEngine) -> None:
    """Remember ``engine`` (weakly); instrument it at once when telemetry is on."""
    sync_engine = engine.sync_engine
    _ENGINES.add(sync_engine)
    for hook in _HOOK:
        hook(sync_engine)


def unregister_engine(engine: AsyncEngine) -> None:
    """Forget ``engine`` (its pool no longer shows in the connection metrics)."""
    _ENGINES.discard(engine.sync_engine)


def registered_engines() -> list[Engine]:
    """The live engines created by ``Database`` objects."""
    return list(_ENGINES)


def set_engine_hook(hook: Callable[[Engine], None] | None) -> None:
    """Install (or with ``None`` remove) the function called with each new engine."""
    _HOOK.clear()
    if hook is not None:
        _HOOK.append(hook)
