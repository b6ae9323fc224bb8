"""Server spans and ``http.server.*`` metrics for FastAPI apps (OpenTelemetry's FastAPI instrumentor).

``internal_base.telemetry.instrument()`` calls :func:`instrument` with the other libraries';
``FastAPISettings.telemetry`` (``COMMONS_FASTAPI_TELEMETRY=true``) instruments one app at
``install()``.
"""

from __future__ import annotations

from internal_fastapi._telemetry import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
