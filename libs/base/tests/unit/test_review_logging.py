"""Review cases of logging: odd ``extra`` keys never lose a record, context keys in ``extra`` are kept."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from internal_base.context import correlation_scope
from internal_base.logging import configure_logging, shutdown_logging


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Parse the JSON lines written so far."""
    return [json.loads(line) for line in buffer.getvalue().split("\n") if line]


@pytest.mark.parametrize(
    "extra",
    [{"": 1}, {1: "x"}, {None: "y"}, {("a", "b"): 2}],
    ids=["empty", "int", "none", "tuple"],
)
def test_odd_extra_keys_do_not_lose_the_record(
    output: io.StringIO, extra: dict[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty or non-str ``extra`` key keeps the record and its message (no "Logging error")."""
    logging.getLogger("review").warning("kept %s", "message", extra=extra)
    text = output.getvalue()
    assert "kept message" in text
    assert "Logging error" not in capsys.readouterr().err


def test_non_str_extra_key_secret_value_is_masked(json_output: io.StringIO) -> None:
    """A non-str extra key is written as text and its value still redacted."""
    extra: dict[Any, Any] = {7: "password=hunter2"}
    logging.getLogger("review").warning("m", extra=extra)
    (record,) = records(json_output)
    assert record["7"] == "password=***"


@pytest.mark.parametrize("name", ["correlation_id", "request_id", "trace_id", "span_id"])
def test_context_field_in_extra_is_kept_renamed(json_output: io.StringIO, name: str) -> None:
    """``extra={"correlation_id": ...}`` neither replaces the real ID nor vanishes: it is ``extra_<name>``."""
    with correlation_scope("real-id"):
        logging.getLogger("review").warning("m", extra={name: "from-caller"})
    (record,) = records(json_output)
    assert record["correlation_id"] == "real-id"
    assert record[f"extra_{name}"] == "from-caller"


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_lone_surrogates_do_not_lose_the_record(
    tmp_path: Path, as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message or extra holding a lone surrogate (``os.fsdecode`` of a bad name) is written escaped."""
    path = tmp_path / "log.txt"
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(stream=stream, json=as_json)
        try:
            logging.getLogger("review").warning("file \udc80.txt", extra={"path": "a\udcffb"})
        finally:
            shutdown_logging()
            logging.getLogger().setLevel(logging.WARNING)
    text = path.read_text(encoding="utf-8")
    assert "Logging error" not in capsys.readouterr().err
    if as_json:
        (record,) = (json.loads(line) for line in text.splitlines())
        assert record["message"] == "file \udc80.txt"
        assert record["path"] == "a\udcffb"
    else:
        assert "file \\udc80.txt" in text
        assert "path=a\\udcffb" in text


class _Accepted(logging.Filter):
    """Counts the records a handler accepted (filters run before the queue handler enqueues)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            self.count += 1
        return True


def _spam(stop: threading.Event) -> None:
    """Log until ``stop`` is set."""
    while not stop.is_set():
        logging.getLogger("review.load").warning("spam")


def test_queue_shutdown_under_load_loses_no_accepted_record() -> None:
    """Every record the queue handler accepted is written, even while threads log during shutdown."""
    for _ in range(5):
        buffer = io.StringIO()
        handler = configure_logging(stream=buffer, queue=True)
        accepted = _Accepted()
        handler.addFilter(accepted)
        stop = threading.Event()

        threads = [threading.Thread(target=_spam, args=(stop,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while accepted.count < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            shutdown_logging()
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
            logging.getLogger().setLevel(logging.WARNING)
        assert buffer.getvalue().count("\n") == accepted.count


def test_huge_message_is_cut_after_redaction(json_output: io.StringIO) -> None:
    """A multi-megabyte message is cut to 100,000 characters, marked, and no secret shows at the cut."""
    head = "x" * 99_990
    message = f"{head} postgresql://app:correct-horse-battery@db/app " + "y" * 5_000_000
    logging.getLogger("review").warning(message)
    (record,) = records(json_output)
    assert len(record["message"]) < 100_100
    assert "correct" not in record["message"]
    assert record["message"].endswith("characters cut>")
