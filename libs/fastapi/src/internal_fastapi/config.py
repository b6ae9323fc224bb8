"""Settings of the FastAPI integration: :class:`FastAPISettings` (``COMMONS_FASTAPI_*``, YAML ``fastapi``)."""

from __future__ import annotations

from internal_fastapi._config import FastAPISettings

__all__ = ["FastAPISettings"]
