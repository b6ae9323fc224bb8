"""Review of exported spans: a huge attribute is redacted and cut like a log message."""

from __future__ import annotations

import io
import json

from internal_base.telemetry import configure_telemetry, span

_LIMIT = 100_000


def test_a_huge_attribute_is_redacted_then_cut() -> None:
    """A 1.2 MB attribute leaves the process as 100,000 redacted characters plus a marker."""
    telemetry = configure_telemetry(service_name="review", exporter="memory")
    assert telemetry.span_exporter is not None
    head = "dsn=postgresql://app:hunter2@db/app "
    with span("big", payload=head + "x" * 1_200_000 + " token=tail-secret"):
        pass
    (exported,) = telemetry.span_exporter.get_finished_spans()
    assert exported.attributes is not None
    value = exported.attributes["payload"]
    assert isinstance(value, str)
    assert value.startswith("dsn=postgresql://app:***@db/app x")
    assert value.endswith(f"... <{len(head) + 1_200_000 + 18 - _LIMIT} characters cut>")
    assert len(value) < _LIMIT + 40
    assert "hunter2" not in value
    assert "tail-secret" not in value


def test_a_huge_exception_message_on_a_span_is_cut_in_events_and_status() -> None:
    """The recorded exception (event attributes and status description) is bounded the same way."""
    telemetry = configure_telemetry(service_name="review", exporter="memory")
    assert telemetry.span_exporter is not None
    try:
        with span("fails"):
            raise ValueError("password=hunter2 " + "y" * 300_000)
    except ValueError:
        pass
    (exported,) = telemetry.span_exporter.get_finished_spans()
    assert exported.status.description is not None
    assert len(exported.status.description) < _LIMIT + 40
    (event,) = exported.events
    assert event.attributes is not None
    for key in ("exception.message", "exception.stacktrace"):
        text = event.attributes[key]
        assert isinstance(text, str)
        assert len(text) < _LIMIT + 40
        assert "hunter2" not in text


def test_console_lines_stay_one_per_span_with_non_ascii_and_huge_values() -> None:
    """Line breaks, U+2028 and megabytes in attributes still give one parseable line per span."""
    stream = io.StringIO()
    configure_telemetry(service_name="review", exporter="console", console_stream=stream)
    with span("ünïcode 日本\n名前", note="a\u2028b\nc", big="z" * 300_000):
        pass
    (line,) = stream.getvalue().splitlines()
    exported = json.loads(line)
    assert exported["name"] == "ünïcode 日本\n名前"
    assert exported["attributes"]["note"] == "a\u2028b\nc"
    assert len(exported["attributes"]["big"]) < _LIMIT + 40
