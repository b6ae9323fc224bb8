"""Review of the shippable JSON logs: stripping ANSI never forges a field or loses a value."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from internal_base.logging import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    get_logger,
    shutdown_logging,
)

log = get_logger("tests.review_shippable")
BOLD = "\x1b[1m"


@pytest.fixture()
def buffer() -> Iterator[io.StringIO]:
    """JSON logging into a buffer."""
    stream = io.StringIO()
    configure_logging(stream=stream, json=True)
    yield stream
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)


def _record(stream: io.StringIO) -> dict[str, object]:
    text = stream.getvalue()
    assert "\x1b" not in text
    assert "\\u001b" not in text
    (line,) = text.splitlines()
    record: dict[str, object] = json.loads(line)
    return record


def test_an_extra_key_with_escapes_cannot_forge_a_standard_field(buffer: io.StringIO) -> None:
    """``extra={"\\x1b[1mlevel": "debug"}`` must not relabel an ERROR once its escapes are stripped."""
    log.error(
        "real",
        extra={f"{BOLD}level": "debug", f"{BOLD}message": "forged", f"{BOLD}trace_id": "f" * 32},
    )
    record = _record(buffer)
    assert record["level"] == "ERROR"
    assert record["message"] == "real"
    assert record["trace_id"] is None
    forged = {key: value for key, value in record.items() if value in ("debug", "forged", "f" * 32)}
    assert len(forged) == 3  # the caller's values are kept, under names that take no standard field


def test_keys_equal_once_stripped_keep_both_values(buffer: io.StringIO) -> None:
    """Two keys that differ only by their colours are two values: neither is lost."""
    log.info("x", extra={f"{BOLD}key": "coloured", "key": "plain", "nested": {f"{BOLD}a": 1, "a": 2}})
    record = _record(buffer)
    assert record["key"] == "plain"
    assert "coloured" in record.values()
    nested = record["nested"]
    assert isinstance(nested, dict)
    assert nested["a"] == 2
    assert sorted(nested.values()) == [1, 2]


def test_timestamps_before_year_1000_have_four_digit_years() -> None:
    """The cached date part is ISO 8601 for every year datetime can hold (``0999``, not ``999``)."""
    formatter = JsonFormatter()
    for created in (-30_610_224_000.25, -62_135_596_800.0, 0.5):
        record = logging.makeLogRecord({"msg": "x", "created": created})
        expected = datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="microseconds")
        assert json.loads(formatter.format(record))["timestamp"] == expected


def test_a_record_written_as_text_after_an_encoding_error_loses_its_escapes_too() -> None:
    """The fallback for a value JSON cannot encode (a cycle, formatter used alone) strips keys too."""
    loop: list[object] = []
    loop.append(loop)
    # Marked as redacted already (as RedactionFilter leaves it), so the cycle reaches the encoder.
    record = logging.makeLogRecord({"msg": "x", f"{BOLD}loop": loop, "_commons_redacted": True})
    line = JsonFormatter().format(record)
    assert "\\u001b" not in line
    assert json.loads(line)["loop"] == "[[...]]"


@pytest.mark.parametrize("created", [float("nan"), float("inf"), 1e20, -1e20, "yesterday"])
def test_a_record_with_an_impossible_created_time_is_written(created: object) -> None:
    """``makeLogRecord({"created": nan})`` is written with that value as its time, never lost."""
    record = logging.makeLogRecord({"msg": "kept", "created": created, "msecs": 0.0})
    written = json.loads(JsonFormatter().format(record))
    assert written["message"] == "kept"
    assert written["timestamp"] == str(created)
    line = TextFormatter().format(record)
    assert line.startswith(f"{created} ")
    assert "kept" in line
