"""``python -m orders_service``: serve the app under uvicorn, every log line as JSON."""

from __future__ import annotations

import argparse

import uvicorn

from internal_base.logging import configure_logging
from orders_service.app import create_app

__all__ = ["main"]


def main() -> None:
    """Parse ``--host``/``--port`` and serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="orders-service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    configure_logging(json=True)
    # log_config=None: uvicorn's loggers propagate to the root handler configure_logging installed.
    uvicorn.run(create_app(), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
