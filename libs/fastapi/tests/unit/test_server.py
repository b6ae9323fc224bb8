"""uvicorn_log_config(): a dictConfig that writes JSON lines through internal_base's filters."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from internal_fastapi.server import uvicorn_log_config

_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture()
def configured() -> Iterator[io.StringIO]:
    """uvicorn_log_config() applied, its handler writing to a buffer; logging restored after."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in _LOGGERS}
    config = uvicorn_log_config(level="debug")
    config["formatters"]["default"]["use_colors"] = True  # what uvicorn does with --use-colors
    config["formatters"]["access"]["use_colors"] = True
    logging.config.dictConfig(config)
    [handler] = [h for h in root.handlers if h not in saved_root[1]]
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stderr
    handler.setStream(stream)
    yield stream
    for handler in root.handlers:
        if handler not in saved_root[1]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved_root[0])
    for handler in saved_root[1]:
        if handler not in root.handlers:
            root.addHandler(handler)
    for name, (level, propagate) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).propagate = propagate


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_uvicorn_records_become_json_without_colour(configured: io.StringIO) -> None:
    """color_message is dropped and the plain message written, as JSON."""
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 42, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    [line] = _lines(configured)
    assert (line["logger"], line["level"], line["message"]) == (
        "uvicorn.error",
        "INFO",
        "Started server process [42]",
    )
    assert "color_message" not in line
    assert "\x1b" not in configured.getvalue()


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/items?token=abc&x=1", "/items?token=***&x=1"),
        ("/items?api%5Fkey=abc", "/items?api%5Fkey=***"),
        ("/plain", "/plain"),
        ("/a\u2028b", "/a%E2%80%A8b"),
    ],
)
def test_the_access_line_masks_secret_query_values(configured: io.StringIO, path: str, logged: str) -> None:
    """uvicorn's access line masks secret query values, percent-encoded key names included."""
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", path, "1.1", 200
    )
    [line] = _lines(configured)
    assert line["message"] == f'127.0.0.1:1 - "GET {logged} HTTP/1.1" 200'


def test_application_loggers_write_json_too(configured: io.StringIO) -> None:
    """The root handler formats every logger, redacting secrets."""
    logging.getLogger("app.module").warning("connect with password=%s", "hunter2")
    [line] = _lines(configured)
    assert (line["logger"], line["message"]) == ("app.module", "connect with password=***")


def test_access_log_can_be_silenced() -> None:
    """access_log=False raises uvicorn.access above every level it logs at."""
    assert uvicorn_log_config(access_log=False)["loggers"]["uvicorn.access"]["level"] == "CRITICAL"
    assert uvicorn_log_config()["loggers"]["uvicorn.access"]["level"] == "INFO"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"level": "LOUD"}, "unknown log level 'LOUD'"),
        ({"stream": "stdlog"}, "stream must be 'stdout' or 'stderr'"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], message: str) -> None:
    """An unknown level or stream is a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        uvicorn_log_config(**options)
