"""Serving with uvicorn: JSON log lines only (uvicorn's own loggers included).

Example:
    ``run(app, host="0.0.0.0", port=8000)``, or ``uvicorn app:app --log-config log.json`` with
    ``json.dump(uvicorn_log_config(), file)``.
"""

from __future__ import annotations

from internal_fastapi._server import run, uvicorn_log_config

__all__ = ["run", "uvicorn_log_config"]
