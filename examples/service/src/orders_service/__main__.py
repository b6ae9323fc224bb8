"""``orders-service --port 8000``: serve the app under uvicorn, every log line as JSON.

Telemetry is on when ``COMMONS_TELEMETRY_EXPORTER`` (or ``telemetry: exporter:`` in the YAML file) names
an exporter, e.g. ``otlp`` with ``COMMONS_TELEMETRY_OTLP_ENDPOINT``: spans and metrics of every library.
"""

from __future__ import annotations

import argparse

from internal_base.telemetry import TelemetrySettings, instrument
from internal_fastapi import run
from orders_service.app import create_app

__all__ = ["main"]


def main() -> None:
    """Parse ``--host``/``--port`` and serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="orders-service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    telemetry = TelemetrySettings.load()
    if telemetry.exporter != "none":
        telemetry.configure()
        instrument()
    # The commons access log (internal_fastapi.access) already writes one line per request.
    run(create_app(), host=args.host, port=args.port, access_log=False, stream="stdout")


if __name__ == "__main__":
    main()
