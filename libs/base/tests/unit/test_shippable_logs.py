"""JSON log lines ship as they are: no ANSI escapes, no presentational extras, spans on their own lines."""

from __future__ import annotations

import io
import json
import logging
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from internal_base.logging import (
    PRESENTATIONAL_EXTRAS,
    JsonFormatter,
    LoggingSettings,
    TextFormatter,
    configure_logging,
    get_logger,
    shutdown_logging,
)
from internal_base.telemetry import configure_telemetry, span

log = get_logger("tests.shippable")
GREEN, RESET = "\x1b[32m", "\x1b[0m"


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    """Remove the handler a test installed."""
    yield
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    text = buffer.getvalue()
    assert "\x1b" not in text
    assert "\\u001b" not in text
    return [json.loads(line) for line in text.splitlines()]


def test_uvicorn_color_message_is_dropped_from_json() -> None:
    """uvicorn's own call (a plain message plus ``extra={"color_message": ...}``) gives a clean line."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=True)
    # What uvicorn.server does on startup, word for word.
    message = "Uvicorn running on %s://%s:%d (Press CTRL+C to quit)"
    color_message = "Uvicorn running on " + "\x1b[1m%s://%s:%d\x1b[0m" + " (Press CTRL+C to quit)"
    logging.getLogger("uvicorn.error").info(
        message, "http", "127.0.0.1", 8000, extra={"color_message": color_message}
    )
    (record,) = _lines(buffer)
    assert record["message"] == "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)"
    assert record["logger"] == "uvicorn.error"
    assert "color_message" not in record
    assert "extra_color_message" not in record


def test_ansi_sequences_are_stripped_from_every_string_of_a_json_record() -> None:
    """Message, extras, nested values, dict keys and 8-bit CSI: the text stays, the escapes go."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=True)
    log.info(
        f"{GREEN}ready{RESET} in %s",
        "\x1b[1;31m3 s\x1b[0m",
        extra={
            "status": f"{GREEN}OK{RESET}",
            "nested": {f"{GREEN}key{RESET}": [f"\x9b1mbold{RESET}", 5, ("\x1b]0;title\x07x",)]},
            "plain": "no escapes",
        },
    )
    (record,) = _lines(buffer)
    assert record["message"] == "ready in 3 s"
    assert record["status"] == "OK"
    assert record["nested"] == {"key": ["bold", 5, ["x"]]}
    assert record["plain"] == "no escapes"


def test_an_object_whose_text_has_escapes_is_stripped_too() -> None:
    """A value the encoder converts (an exception in ``extra``) loses its escapes after conversion."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=True)
    log.info("failed", extra={"error": ValueError(f"{GREEN}bad{RESET} input")})
    (record,) = _lines(buffer)
    assert record["error"] == "ValueError: bad input"


def test_literal_backslash_u001b_text_is_kept() -> None:
    """Text that only spells an escape (a backslash, then ``u001b``) is data, not an escape: kept."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=True)
    log.info("spelled", extra={"doc": "write \\u001b for ESC"})
    (record,) = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert record["doc"] == "write \\u001b for ESC"


def test_drop_extras_is_configurable() -> None:
    """``drop_extras`` replaces the default: add a key to it, or keep every extra with ``()``."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=True, drop_extras=PRESENTATIONAL_EXTRAS | {"style_hint"})
    log.info("a", extra={"color_message": "c", "style_hint": "bold", "kept": 1})
    configure_logging(stream=buffer, json=True, drop_extras=())
    log.info("b", extra={"color_message": f"{GREEN}c{RESET}"})
    first, second = _lines(buffer)
    assert {key: first[key] for key in first if key in {"color_message", "style_hint", "kept"}} == {"kept": 1}
    assert second["color_message"] == "c"  # kept, and still without escapes


def test_text_output_drops_presentational_extras() -> None:
    """The text formatters honour ``drop_extras`` too (uvicorn's coloured copy is not appended)."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=False, color=False)
    log.info("started", extra={"color_message": f"{GREEN}started{RESET}", "port": 8000})
    line = buffer.getvalue()
    assert "color_message" not in line
    assert line.rstrip("\n").endswith("started port=8000")


@pytest.mark.parametrize(
    ("drop_extras", "match"),
    [
        ("color_message", "not the string 'color_message'"),
        (["ok", 3], "must hold key names \\(str\\); got 3"),
    ],
)
def test_bad_drop_extras_are_refused(drop_extras: object, match: str) -> None:
    """A bare string (a likely slip for a one-item list) or a non-string name is a TypeError."""
    for build in (
        lambda: JsonFormatter(drop_extras=drop_extras),  # type: ignore[arg-type]
        lambda: TextFormatter(drop_extras=drop_extras),  # type: ignore[arg-type]
        lambda: configure_logging(drop_extras=drop_extras),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=match):
            build()


def test_settings_read_drop_extras_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``COMMONS_LOG_DROP_EXTRAS`` (a JSON list) reaches the formatter; the default is color_message."""
    assert LoggingSettings.load(yaml_file=None).drop_extras == ["color_message"]
    monkeypatch.setenv("COMMONS_LOG_DROP_EXTRAS", '["color_message", "hint"]')
    buffer = io.StringIO()
    LoggingSettings.load(yaml_file=None).configure(stream=buffer)
    log.warning("x", extra={"hint": "h", "color_message": "c", "kept": True})
    (record,) = _lines(buffer)
    assert ("hint" in record, "color_message" in record, record["kept"]) == (False, False, True)


def test_console_spans_are_one_json_line_each_between_log_lines() -> None:
    """Spans and logs sharing one stream, from several threads: every line is one whole JSON object."""
    stream = io.StringIO()
    telemetry = configure_telemetry(
        service_name="shippable", exporter="console", set_global=False, console_stream=stream
    )
    configure_logging(stream=stream, json=True)
    start = threading.Barrier(4)

    def work(number: int) -> None:
        start.wait(timeout=30)
        for index in range(25):
            with span(f"op-{number}", index=index, note="multi\nline"):
                log.info("inside %s/%s", number, index, extra={"text": "a\nb"})

    threads = [threading.Thread(target=work, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    telemetry.shutdown()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    spans = [line for line in lines if "context" in line]
    logs = [line for line in lines if "level" in line]
    assert (len(spans), len(logs), len(lines)) == (100, 100, 200)
    assert {s["attributes"]["note"] for s in spans} == {"multi\nline"}
    assert all(s["resource"]["attributes"]["service.name"] == "shippable" for s in spans)


def test_console_spans_default_to_stderr_not_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without a stream the console exporter writes to stderr (read when configured), never stdout."""
    telemetry = configure_telemetry(service_name="stderr-default", exporter="console", set_global=False)
    with span("to-stderr"):
        pass
    telemetry.shutdown()
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert json.loads(line)["name"] == "to-stderr"


def test_json_timestamp_is_the_records_time_in_utc_with_microseconds() -> None:
    """The once-a-second cached date part gives what datetime gives, whole seconds and carries included."""
    formatter = JsonFormatter()
    rng = random.Random(7)
    moments = [0.0, -1.5, 1.9999999, 1_700_000_000.0, 1_700_000_000.9999996]
    moments += [rng.uniform(0, 4e9) for _ in range(5_000)]
    moments += [1_800_000_000 + index / 1000 for index in range(2_000)]  # same second, many records
    expected = [datetime.fromtimestamp(m, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00") for m in moments]
    written = []
    for moment in moments:
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None)
        record.created = moment
        written.append(json.loads(formatter.format(record))["timestamp"])
    assert written == expected
