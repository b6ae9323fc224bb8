"""Tests for configure_logging, formatters and filters."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context

from internal_base import _logging
from internal_base.context import bind, correlation_scope
from internal_base.errors import ConfigurationError
from internal_base.logging import (
    ContextFilter,
    LoggingSettings,
    RedactionFilter,
    configure_logging,
    get_logger,
    shutdown_logging,
)
from internal_base.telemetry import configure_telemetry, span


class TtyStream(io.StringIO):
    """A StringIO that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture()
def stream() -> Iterator[io.StringIO]:
    """Configure JSON logging into a buffer and tear it down afterwards."""
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    yield buffer
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Parse the JSON lines written so far."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_record_has_standard_fields(stream: io.StringIO) -> None:
    """Every JSON record carries timestamp, level, logger, message and context fields."""
    get_logger("t.fields").info("hello %s", "world")
    record = records(stream)[0]
    assert list(record)[:8] == [
        "timestamp",
        "level",
        "logger",
        "message",
        "correlation_id",
        "request_id",
        "trace_id",
        "span_id",
    ]
    assert (record["level"], record["logger"], record["message"]) == ("INFO", "t.fields", "hello world")


def test_timestamp_is_iso_utc(stream: io.StringIO) -> None:
    """The timestamp is ISO 8601 in UTC."""
    get_logger("t.ts").info("x")
    assert records(stream)[0]["timestamp"].endswith("+00:00")


def test_correlation_ids_in_record(stream: io.StringIO) -> None:
    """Records carry the current correlation and request IDs."""
    with correlation_scope("cid-7", "rid-7"):
        get_logger("t.cid").info("x")
    record = records(stream)[0]
    assert (record["correlation_id"], record["request_id"]) == ("cid-7", "rid-7")


def test_trace_and_span_ids_in_record(stream: io.StringIO) -> None:
    """Records inside a span carry its trace and span IDs in hex."""
    configure_telemetry(service_name="log-test", exporter="memory", set_global=False)
    with span("op") as current:
        get_logger("t.trace").info("x")
        context = current.get_span_context()
    record = records(stream)[0]
    assert (record["trace_id"], record["span_id"]) == (
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
    )


def test_bound_keys_in_record(stream: io.StringIO) -> None:
    """Keys bound with ``bind`` appear on records in the block only."""
    logger = get_logger("t.bind")
    with bind(tenant="acme"):
        logger.info("in")
    logger.info("out")
    first, second = records(stream)
    assert (first.get("tenant"), "tenant" in second) == ("acme", False)


def test_explicit_extra_wins_over_bound(stream: io.StringIO) -> None:
    """An explicit ``extra`` key wins over the same bound key."""
    with bind(step="bound"):
        get_logger("t.extra").info("x", extra={"step": "explicit"})
    assert records(stream)[0]["step"] == "explicit"


async def test_bound_keys_do_not_leak_between_tasks(stream: io.StringIO) -> None:
    """Concurrent tasks log only their own bound keys."""

    async def work(name: str) -> None:
        async with bind(worker=name):
            await asyncio.sleep(0)
            get_logger("t.tasks").info(name)

    await asyncio.gather(work("a"), work("b"))
    assert sorted((r["message"], r["worker"]) for r in records(stream)) == [("a", "a"), ("b", "b")]


def test_args_are_redacted(stream: io.StringIO) -> None:
    """Secrets in message args are masked."""
    get_logger("t.args").info("dsn=%s", "postgresql://u:pw@h/db")
    assert records(stream)[0]["message"] == "dsn=postgresql://u:***@h/db"


def test_mapping_args_are_redacted(stream: io.StringIO) -> None:
    """A mapping argument is redacted by key."""
    get_logger("t.map").info("cfg %(user)s %(password)s", {"user": "u", "password": "pw"})
    assert records(stream)[0]["message"] == "cfg u ***"


def test_extra_fields_are_redacted_recursively(stream: io.StringIO) -> None:
    """Extra fields are masked by key and content, recursively."""
    get_logger("t.extra").info("x", extra={"api_key": "k", "request": {"headers": {"Cookie": "c"}, "n": 1}})
    record = records(stream)[0]
    assert (record["api_key"], record["request"]) == ("***", {"headers": {"Cookie": "***"}, "n": 1})


def test_literal_secret_in_message_is_redacted(stream: io.StringIO) -> None:
    """A secret written straight into the message text is masked too."""
    get_logger("t.msg").info("using token=abc123")
    assert records(stream)[0]["message"] == "using token=***"


def test_exception_traceback_is_redacted(stream: io.StringIO) -> None:
    """Tracebacks are included and redacted."""
    try:
        raise ConnectionError("redis://:pw@h/0 refused")
    except ConnectionError:
        get_logger("t.exc").exception("failed")
    exc_info = records(stream)[0]["exc_info"]
    assert "ConnectionError: redis://:***@h/0 refused" in exc_info
    assert ":pw@" not in exc_info


def test_level_per_logger() -> None:
    """``levels`` sets the level of named loggers."""
    buffer = io.StringIO()
    configure_logging(level="WARNING", levels={"t.verbose": "DEBUG"}, stream=buffer)
    try:
        get_logger("t.verbose").debug("shown")
        get_logger("t.quiet").info("hidden")
    finally:
        shutdown_logging()
        logging.getLogger("t.verbose").setLevel(logging.NOTSET)
    assert [r["message"] for r in records(buffer)] == ["shown"]


def test_unknown_level_is_rejected() -> None:
    """An unknown level name raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match="LOUD"):
        configure_logging(level="LOUD")


def test_numeric_level_is_accepted() -> None:
    """Numeric levels are accepted."""
    buffer = io.StringIO()
    configure_logging(level=logging.ERROR, stream=buffer)
    try:
        get_logger("t.num").warning("hidden")
    finally:
        shutdown_logging()
    assert buffer.getvalue() == ""


def test_reconfiguring_replaces_handler() -> None:
    """Calling configure_logging twice leaves one commons handler."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)
    try:
        get_logger("t.re").warning("once")
    finally:
        shutdown_logging()
    assert (first.getvalue(), len(records(second))) == ("", 1)


def test_queue_handler_delivers_records() -> None:
    """With ``queue=True`` records are written by the listener thread, with context."""
    buffer = io.StringIO()
    handler = configure_logging(stream=buffer, queue=True)
    try:
        with correlation_scope("queued"):
            get_logger("t.queue").warning("via %s", "queue")
    finally:
        shutdown_logging()
    record = records(buffer)[0]
    assert (type(handler).__name__, record["message"], record["correlation_id"]) == (
        "_QueueHandler",
        "via queue",
        "queued",
    )


def test_queue_handler_renders_traceback() -> None:
    """Tracebacks survive the queue, rendered and redacted."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, queue=True)
    try:
        try:
            raise ValueError("password=hunter2")
        except ValueError:
            get_logger("t.qexc").exception("bad")
    finally:
        shutdown_logging()
    assert "ValueError: password=***" in records(buffer)[0]["exc_info"]


def test_text_format() -> None:
    """Text output shows level, logger, correlation ID, message and extras."""
    buffer = io.StringIO()
    configure_logging(json=False, stream=buffer)
    try:
        with correlation_scope("cid-t"):
            get_logger("t.text").warning("hi %s", "there", extra={"n": 1})
    finally:
        shutdown_logging()
    assert buffer.getvalue().rstrip().split(" ", 2)[2] == "WARNING  t.text [cid-t] hi there n=1"


def test_text_format_without_correlation_id() -> None:
    """Text output shows ``-`` when there is no correlation ID."""
    buffer = io.StringIO()
    configure_logging(json=False, stream=buffer)
    try:
        get_logger("t.text").warning("plain")
    finally:
        shutdown_logging()
    assert "[-] plain" in buffer.getvalue()


def test_text_format_includes_trace_ids_and_redacted_traceback() -> None:
    """Text output appends trace IDs and a redacted traceback."""
    configure_telemetry(service_name="log-test", exporter="memory", set_global=False)
    buffer = io.StringIO()
    configure_logging(json=False, stream=buffer)
    try:
        with span("op"):
            try:
                raise OSError("mysql://u:pw@h/db")
            except OSError:
                get_logger("t.text").exception("bad")
    finally:
        shutdown_logging()
    output = buffer.getvalue()
    assert "trace_id=" in output
    assert "OSError: mysql://u:***@h/db" in output


def test_color_when_tty() -> None:
    """A TTY stream gets ANSI colours by default."""
    buffer = TtyStream()
    configure_logging(json=False, stream=buffer)
    try:
        with correlation_scope("c"):
            get_logger("t.color").warning("coloured", extra={"k": "v"})
    finally:
        shutdown_logging()
    assert "\x1b[" in buffer.getvalue()
    assert buffer.getvalue().rstrip().endswith("k=v")


def test_color_traceback_is_redacted() -> None:
    """Coloured output redacts tracebacks."""
    buffer = io.StringIO()
    configure_logging(json=False, color=True, stream=buffer)
    try:
        try:
            raise OSError("token=abc")
        except OSError:
            get_logger("t.color").exception("x")
    finally:
        shutdown_logging()
    assert "OSError: token=***" in buffer.getvalue()


def test_no_color_for_plain_stream() -> None:
    """A non-TTY stream gets no ANSI colours by default."""
    buffer = io.StringIO()
    configure_logging(json=False, stream=buffer)
    try:
        get_logger("t.nocolor").warning("plain")
    finally:
        shutdown_logging()
    assert "\x1b[" not in buffer.getvalue()


def test_dict_message_is_kept(stream: io.StringIO) -> None:
    """A dict message is merged into the JSON record, redacted."""
    get_logger("t.dict").info({"event": "started", "password": "pw"})
    record = records(stream)[0]
    assert (record["event"], record["password"]) == ("started", "***")


def test_logging_settings_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    """LoggingSettings read env and configure logging."""
    monkeypatch.setenv("COMMONS_LOG_LEVEL", "ERROR")
    monkeypatch.setenv("COMMONS_LOG_FORMAT", "text")
    settings = LoggingSettings.load()
    buffer = io.StringIO()
    settings.configure(buffer)
    try:
        get_logger("t.settings").warning("hidden")
        get_logger("t.settings").error("shown")
    finally:
        shutdown_logging()
    assert (settings.format, buffer.getvalue().count("\n"), "shown" in buffer.getvalue()) == ("text", 1, True)


def _filtered(msg: str, args: Any, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t.filter", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    ContextFilter().filter(record)
    RedactionFilter().filter(record)
    return record


def test_container_args_in_a_tuple_are_redacted() -> None:
    """A container among plain args makes the filter rebuild the args with it redacted."""
    record = _filtered("%s %s %d", ("user", {"password": "pw"}, 3))
    assert (record.msg, record.args) == ("user {'password': '***'} 3", None)


def test_plain_args_are_formatted_unchanged() -> None:
    """Strings and scalars only: the message is formatted from them as they are."""
    record = _filtered("%s took %.1f ms (%s)", ("query", 2.5, None))
    assert record.getMessage() == "query took 2.5 ms (None)"


def test_list_args_are_treated_as_a_tuple() -> None:
    """Args that are neither a tuple nor a mapping are redacted item by item."""
    record = _filtered("%s %s", ["a", "token=x"])
    assert record.msg == "a token=***"


def test_extra_string_values_fast_path() -> None:
    """A clean extra string is kept as the same object; a string with a secret is masked."""
    clean = "GET /orders/42 200"
    record = _filtered("x", None, route=clean, note="dsn redis://:pw@h/0", tag="ok", n=3)
    assert record.__dict__["route"] is clean
    assert (record.__dict__["note"], record.__dict__["tag"], record.__dict__["n"]) == (
        "dsn redis://:***@h/0",
        "ok",
        3,
    )


def test_secret_extra_keys_are_masked_on_every_record() -> None:
    """The remembered key classification gives the same answer the second time."""
    for _ in range(2):
        record = _filtered("x", None, clientSecret="s", missing_token=None, user="u")
        assert (
            record.__dict__["clientSecret"],
            record.__dict__["missing_token"],
            record.__dict__["user"],
        ) == (
            "***",
            None,
            "u",
        )


def test_secret_key_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its limit the key memo stops growing, and keys are still classified."""
    monkeypatch.setattr(_logging, "_secret_keys", (-1, {}))
    monkeypatch.setattr(_logging, "_SECRET_KEYS_MAX", 1)
    record = _filtered("x", None, first_key="a", api_token="t")
    assert (record.__dict__["first_key"], record.__dict__["api_token"]) == ("a", "***")
    memo = list(_logging._secret_keys[1].items())  # extras are visited in no particular order
    assert len(memo) == 1
    assert memo[0] in {("first_key", False), ("api_token", True)}


def test_context_without_span_has_no_trace_ids() -> None:
    """A non-empty OpenTelemetry context without a span still gives null trace and span IDs."""
    token = otel_context.attach(otel_context.set_value("some-key", "v"))
    try:
        record = _filtered("x", None)
    finally:
        otel_context.detach(token)
    assert (record.__dict__["trace_id"], record.__dict__["span_id"]) == (None, None)


def test_context_filter_without_bound_keys() -> None:
    """Outside any scope the context fields are None and no key is added."""
    record = _filtered("x", None)
    assert [record.__dict__[name] for name in ("correlation_id", "request_id")] == [None, None]
