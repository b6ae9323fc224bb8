"""uvicorn logging as JSON lines: ``uvicorn_log_config()`` and ``run()``.

uvicorn's own loggers (``uvicorn.error``, ``uvicorn.access``) and every application logger go
through one handler with ``internal_base``'s :class:`~internal_base.logging.JsonFormatter`,
``ContextFilter`` (correlation/request/trace IDs) and ``RedactionFilter``: one JSON object per
line, no ANSI colours, no ``color_message`` extra, secrets masked (uvicorn's access line too,
including query keys sent percent-encoded such as ``api%5Fkey``).
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal

from internal_base.logging import JsonFormatter
from internal_base.redaction import redact_url
from internal_fastapi._middleware import (
    MAX_TARGET,
    bounded,
    loggable,
    loggable_query,
    mask_encoded_secret_names,
)

__all__ = ["UvicornRecordFilter", "json_formatter", "run", "uvicorn_log_config"]

_PRESENTATIONAL: Final = ("color_message",)
_ACCESS_LOGGER: Final = "uvicorn.access"
_PATH_ARG: Final = 2  # uvicorn.access args: client, method, path with query, HTTP version, status


def json_formatter(use_colors: bool | None = None) -> logging.Formatter:
    """The JSON formatter of ``uvicorn_log_config`` (``use_colors``, set by uvicorn, is ignored)."""
    del use_colors  # JSON lines are never coloured
    return JsonFormatter()


def _access_target(target: str) -> str:
    path, question, query = target.partition("?")
    if not question:
        return bounded(loggable(path), MAX_TARGET)
    masked = mask_encoded_secret_names(loggable_query(query.encode("utf-8", "surrogateescape")))
    return bounded(redact_url(f"{loggable(path)}?{masked}"), MAX_TARGET)


class UvicornRecordFilter(logging.Filter):
    """Drop uvicorn's ``color_message`` extra; mask and bound the path of ``uvicorn.access`` lines.

    Runs before ``RedactionFilter`` formats the message, so the access line's query is masked as
    the commons access log masks it (secret keys compared percent-decoded).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Edit ``record`` in place; never drops it."""
        attrs = record.__dict__
        for name in _PRESENTATIONAL:
            attrs.pop(name, None)
        args = record.args
        if record.name == _ACCESS_LOGGER and isinstance(args, tuple) and len(args) > _PATH_ARG:
            target = args[_PATH_ARG]
            if isinstance(target, str):
                record.args = (*args[:_PATH_ARG], _access_target(target), *args[_PATH_ARG + 1 :])
        return True


def uvicorn_log_config(
    *, level: str = "INFO", stream: Literal["stdout", "stderr"] = "stderr", access_log: bool = True
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn's ``log_config``: JSON lines only.

    Args:
        level: Level of the root logger and of uvicorn's loggers.
        stream: Where the lines go.
        access_log: Keep uvicorn's own access line (the commons access log, ``internal_fastapi.access``,
            writes one per request too).

    Returns:
        A fresh dict (uvicorn may edit it): pass it as ``uvicorn.run(..., log_config=...)``, or write it
        to a ``.json`` file for ``uvicorn --log-config``.

    Raises:
        ValueError: An unknown level or stream.
    """
    if not isinstance(logging.getLevelName(level.upper()), int):
        raise ValueError(f"unknown log level {level!r}")
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")
    level = level.upper()
    formatter = {"()": f"{__name__}.json_formatter"}
    uvicorn_logger = {"level": level, "handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # uvicorn sets "use_colors" on these two names: both exist, both are JSON.
        "formatters": {"default": dict(formatter), "access": dict(formatter)},
        "filters": {
            "uvicorn": {"()": f"{__name__}.UvicornRecordFilter"},
            "context": {"()": "internal_base.logging.ContextFilter"},
            "redaction": {"()": "internal_base.logging.RedactionFilter"},
        },
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["uvicorn", "context", "redaction"],
                "stream": f"ext://sys.{stream}",
            }
        },
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            "uvicorn": dict(uvicorn_logger),
            "uvicorn.error": dict(uvicorn_logger),
            "uvicorn.access": {**uvicorn_logger, "level": level if access_log else "CRITICAL"},
        },
    }


def run(
    app: Any, *, level: str = "INFO", stream: Literal["stdout", "stderr"] = "stderr", **options: Any
) -> None:
    """Serve ``app`` with ``uvicorn.run`` and :func:`uvicorn_log_config`: JSON log lines only.

    Args:
        app: The ASGI app (or an ``"module:attribute"`` string, for ``workers``/``reload``).
        level: Log level (uvicorn's and the root logger's).
        stream: Where the lines go.
        **options: Passed to ``uvicorn.run`` (``host``, ``port``, ``access_log`` ...); a
            ``log_config`` given here wins.
    """
    import uvicorn

    options.setdefault("log_config", uvicorn_log_config(level=level, stream=stream))
    options.setdefault("log_level", level.lower())
    logging.captureWarnings(True)  # warnings become JSON records, not raw stderr text
    uvicorn.run(app, **options)
