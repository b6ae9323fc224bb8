"""Sibling-library names that issue #12 changes, looked up under the new name first.

internal_cache changes its constructor and settings (``CacheClient(settings)``, a ``resilience``
section) in parallel with this library's tests; these lookups keep the tests working on both sides.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["cache_client", "sibling"]


def sibling(module: str, *names: str) -> Any:
    """The first of ``names`` that ``module`` defines.

    Raises:
        AttributeError: ``module`` defines none of them.
    """
    found = importlib.import_module(module)
    for name in names:
        if hasattr(found, name):
            return getattr(found, name)
    raise AttributeError(f"{module} defines none of {names}")


def cache_client(*, health_registry: Any = None, attempts: int | None = None, **values: Any) -> Any:
    """An ``internal_cache.CacheClient`` for ``values`` (``CacheSettings`` fields it has).

    Args:
        health_registry: Where the client registers its check.
        attempts: Attempts per command, in whichever shape the settings take (``resilience.retry``
            after issue #12, ``retry_attempts`` before).
        **values: ``CacheSettings`` fields; the ones the settings do not have are left out.
    """
    client_class = sibling("internal_cache", "CacheClient")
    settings_class = sibling("internal_cache", "CacheSettings")
    fields = settings_class.model_fields
    chosen = {name: value for name, value in values.items() if name in fields}
    if attempts is not None:
        if "resilience" in fields:
            chosen["resilience"] = {"retry": {"attempts": attempts}}
        else:
            chosen["retry_attempts"] = attempts
    settings = settings_class.model_validate(chosen)
    if hasattr(client_class, "from_settings"):
        return client_class.from_settings(settings, health_registry=health_registry)
    return client_class(settings, health_registry=health_registry)
