"""Review: the formatters on a handler of the caller's own (dictConfig) redact and never lose a record."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest

from internal_base.logging import JsonFormatter, TextFormatter


@pytest.fixture(params=["JsonFormatter", "TextFormatter"])
def handler_output(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """A ``dictConfig`` handler with only the formatter (no ContextFilter, no RedactionFilter)."""
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"ours": {"()": f"internal_base.logging.{request.param}"}},
            "handlers": {"own": {"class": "logging.StreamHandler", "formatter": "ours", "stream": stream}},
            "loggers": {"tests.bare": {"handlers": ["own"], "level": "INFO", "propagate": False}},
        }
    )
    yield stream
    logger = logging.getLogger("tests.bare")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def test_a_bare_formatter_masks_the_message_args_and_extras(handler_output: io.StringIO) -> None:
    """No RedactionFilter ran: the formatter redacts the record itself."""
    logging.getLogger("tests.bare").info(
        "connect %s with password=hunter1", "postgresql://app:hunter2@db/app", extra={"token": "hunter3"}
    )
    text = handler_output.getvalue()
    assert "hunter" not in text
    assert "password=***" in text


def test_a_bare_formatter_writes_a_record_with_odd_keys(handler_output: io.StringIO) -> None:
    """A record with a tuple or bytes attribute name is written, not lost to a TypeError."""
    attrs = {"name": "tests.bare", "levelno": logging.INFO, "levelname": "INFO", "msg": "odd"}
    odd: dict[Any, object] = {**attrs, (1, 2): "tuple", b"raw": "bytes"}
    record = logging.makeLogRecord(odd)
    logging.getLogger("tests.bare").handle(record)
    text = handler_output.getvalue()
    assert "odd" in text
    assert "tuple" in text
    assert "bytes" in text


def test_the_record_seen_by_other_handlers_is_unchanged() -> None:
    """The formatter redacts a copy: a handler after it gets the record as it was logged."""
    record = logging.makeLogRecord({"msg": "password=%s", "args": ("hunter2",), "token": "hunter3"})
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert "hunter" not in line
        if isinstance(formatter, JsonFormatter):
            assert json.loads(line)["token"] == "***"
    assert record.getMessage() == "password=hunter2"
    assert record.__dict__["token"] == "hunter3"
