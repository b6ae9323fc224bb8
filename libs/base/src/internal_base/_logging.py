"""Structured logging: JSON or coloured text, correlation and trace IDs on every record, redaction.

``configure_logging`` is explicit (nothing happens at import) and idempotent: calling it again
replaces the handler it installed before. Two filters run on the emitting thread, before any
queue: ``ContextFilter`` stamps ``correlation_id``, ``request_id``, ``trace_id``, ``span_id``
and the keys from ``bind``; ``RedactionFilter`` masks secrets in message args, in the final
message and in extra fields (recursively), and never raises into the logging call. The
formatters (``_log_format``) redact what only becomes text when written. With ``queue=True``
the records are handed to a ``QueueListener`` thread so slow output never blocks the event loop.
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import queue as queue_module
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar, Final, Literal, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from internal_base._context import RESERVED_KEYS, _bound, _correlation_id, _request_id
from internal_base._errors import ConfigurationError
from internal_base._log_format import (
    CONTEXT_FIELDS,
    PRESENTATIONAL_EXTRAS,
    REDACTED,
    STAMPED,
    STANDARD_FIELDS,
    ColorFormatter,
    JsonFormatter,
    TextFormatter,
    drop_set,
    redacted_text_of,
    renamed,
)
from internal_base._redaction import (
    MASK,
    MAX_TEXT,
    exception_text,
    is_secret_key,
    redact,
    redact_cut,
    redact_text_cut,
    registration_generation,
)
from internal_base._secret_text import MIN_SECRET_LEN
from internal_base._settings import LibrarySettings

__all__ = [
    "CONTEXT_FIELDS",
    "ColorFormatter",
    "ContextFilter",
    "JsonFormatter",
    "LoggingSettings",
    "PRESENTATIONAL_EXTRAS",
    "RedactionFilter",
    "TextFormatter",
    "configure_logging",
    "get_logger",
    "shutdown_logging",
]

_SCALARS: Final = frozenset({int, float, bool, type(None)})
# is_secret_key per extra key name, without the lru_cache call; bounded so odd keys cannot grow it.
# is_secret_key per extra key name, without the lru_cache call, for one registration generation
# (a registration starts a new dict); bounded so odd keys cannot grow it.
_secret_keys: tuple[int, dict[str, bool]] = (-1, {})
_SECRET_KEYS_MAX: Final = 4096
_SECRET_KEY_LEN: Final = 256  # longer names are not remembered (4,096 of them could hold megabytes)


#: Longest message written (longer ones are cut after redaction: log shippers drop huge lines).
MAX_MESSAGE: Final = MAX_TEXT
# Set on a record once ContextFilter has stamped it (a second handler's filter sees its own stamp).
_STAMPED: Final = STAMPED
# Record attributes that are not extra/bound keys: never redacted as extras, never masked.
_NOT_EXTRA: Final = RESERVED_KEYS | {_STAMPED, REDACTED}


class ContextFilter(logging.Filter):
    """Stamp the correlation context, the current span and the bound keys onto each record."""

    _last_span: tuple[object, str, str] = (None, "", "")

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context attributes; explicit ``extra`` keys win over bound ones."""
        attrs = record.__dict__
        if _STAMPED not in attrs:
            attrs[_STAMPED] = True
            # An ``extra`` key named like a context field is the caller's data: kept, renamed.
            if not attrs.keys().isdisjoint(CONTEXT_FIELDS):
                for name in CONTEXT_FIELDS:
                    if name in attrs:
                        attrs[renamed(name, attrs)] = attrs.pop(name)
        attrs["correlation_id"] = _correlation_id.get()
        attrs["request_id"] = _request_id.get()
        otel = otel_context.get_current()
        # An empty OpenTelemetry context holds no span: skip the span lookup altogether.
        span_context = trace.get_current_span(otel).get_span_context() if otel else None
        if span_context is not None and span_context.is_valid:
            last = self._last_span
            if last[0] is not span_context:  # a span's context is one object: hex it once per span
                last = (
                    span_context,
                    format(span_context.trace_id, "032x"),
                    format(span_context.span_id, "016x"),
                )
                self._last_span = last  # one tuple: threads sharing the filter never see a torn triple
            attrs["trace_id"] = last[1]
            attrs["span_id"] = last[2]
        else:
            attrs["trace_id"] = attrs["span_id"] = None
        bound = _bound.get()
        if bound:
            for key, value in bound.items():
                attrs.setdefault(key, value)
        return True


class RedactionFilter(logging.Filter):
    """Mask secrets in message args, in the formatted message and in extra fields.

    It never raises into the logging call: a message that cannot be formatted with its args
    (``log.info("%s %s", x)``) becomes a record that says so, with its parts redacted; any other
    failure while redacting masks the whole record (fail closed).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place (the message is formatted once, here)."""
        try:
            args: object = record.args  # typed as tuple | Mapping, but callers can pass any sequence
            if args:
                # Strings are covered by redacting the final message below; containers need their keys.
                if isinstance(args, tuple):
                    # Rebuilt only when some argument is neither a string nor a scalar.
                    for arg in args:
                        if not isinstance(arg, str) and type(arg) not in _SCALARS:
                            record.args = tuple(a if isinstance(a, str) else redact(a) for a in args)
                            break
                elif isinstance(args, Mapping):
                    record.args = cast(Mapping[str, object], redact(args))
                else:
                    items = cast(Iterable[object], args)
                    record.args = tuple(a if isinstance(a, str) else redact(a) for a in items)
            msg = record.msg
            if not isinstance(msg, str) and isinstance(msg, Mapping):
                record.msg = _without_standard_names(cast(dict[object, object], redact_cut(msg)))
            else:
                try:
                    message = record.getMessage()
                except Exception as exc:  # a malformed call: say so instead of raising
                    message = (
                        f"<malformed log call: {exception_text(exc)}> "
                        f"msg={redacted_text_of(msg)} args={redacted_text_of(record.args)}"
                    )
                record.msg = redact_text_cut(message, MAX_MESSAGE)
                record.args = None
            if record.exc_text:  # cached unredacted by a handler that ran before this one
                record.exc_text = redact_text_cut(record.exc_text)
            attrs = record.__dict__
            # The extra and bound keys, found in C (a set difference) rather than by a Python loop
            # over the ~25 standard attributes of every record.
            extras = attrs.keys() - _NOT_EXTRA
            if extras:
                odd = _redact_extras(attrs, extras)
                if odd:  # ``extra={1: x}``: named by their redacted text, then redacted
                    _redact_extras(attrs, _stringify_keys(attrs, odd))
        except Exception as exc:  # the caller's log call must never fail
            _mask_record(record, exc)
        record.__dict__[REDACTED] = True  # the formatters need not redact it again
        return True


def _redact_extras(attrs: dict[Any, object], keys: Iterable[object]) -> list[object]:
    """Redact the values of ``keys`` in place; return the keys that are not strings (left as they are)."""
    global _secret_keys
    odd: list[object] = []
    generation, secret_keys = _secret_keys
    if generation != registration_generation():  # read before any answer below is computed
        _secret_keys = generation, secret_keys = registration_generation(), {}
    for key in keys:  # values are replaced in place; no key is added
        if not isinstance(key, str):
            odd.append(key)
            continue
        value = attrs[key]
        secret = secret_keys.get(key)
        if secret is None:
            secret = is_secret_key(key)
            if len(secret_keys) < _SECRET_KEYS_MAX and len(key) <= _SECRET_KEY_LEN:
                secret_keys[key] = secret
        if secret:
            if value is not None:
                attrs[key] = MASK
            continue
        kind = type(value)
        if kind is str:
            if len(cast(str, value)) < MIN_SECRET_LEN:  # too short for any secret: skip the call
                continue
            redacted = redact_text_cut(cast(str, value))
            if redacted is not value:
                attrs[key] = redacted
        elif kind not in _SCALARS:
            attrs[key] = redact_cut(value)
    return odd


def _stringify_keys(attrs: dict[Any, object], odd: list[object]) -> list[str]:
    """Give ``extra`` keys that are not strings (``extra={1: x}``) their redacted text as name.

    Returns:
        The new names, in the record's order.
    """
    wanted = set(odd)
    names: list[str] = []
    for key in [key for key in attrs if key in wanted]:
        name = redacted_text_of(key)
        name = renamed(name, attrs) if name in attrs else name
        attrs[name] = attrs.pop(key)
        names.append(name)
    return names


def _without_standard_names(message: dict[object, object]) -> dict[object, object]:
    """A dict message whose keys named like standard fields are renamed ``extra_<name>``.

    Renamed here, before python-json-logger sees the dict: its own ``exc_info`` key would
    otherwise hide the record's traceback.
    """
    if STANDARD_FIELDS.isdisjoint(message):
        return message
    return {
        (renamed(key, message) if isinstance(key, str) and key in STANDARD_FIELDS else key): value
        for key, value in message.items()
    }


def _mask_record(record: logging.LogRecord, exc: Exception) -> None:
    """Fail closed: a record that could not be redacted keeps its level and names, nothing else."""
    record.msg = f"<log record could not be redacted: {type(exc).__name__}>"
    record.args = None
    record.exc_info = record.exc_text = record.stack_info = None
    attrs = record.__dict__
    for key in list(attrs):
        if key not in _NOT_EXTRA:
            attrs[key] = MASK


class _QueueHandler(logging.handlers.QueueHandler):
    """Queues a picklable copy of the record: message formatted and traceback rendered here.

    Once its listener is stopping, records still arriving (a thread that got the handler from
    the root logger just before it was removed) are written by ``sink`` directly: none is lost
    behind the listener's stop sentinel.
    """

    def __init__(self, records: queue_module.SimpleQueue[logging.LogRecord], sink: logging.Handler) -> None:
        super().__init__(records)
        self.sink = sink
        self.direct = False

    def enqueue(self, record: logging.LogRecord) -> None:
        """Queue ``record``, or write it through the sink once the listener is stopping."""
        if self.direct:  # read under the handler lock, as ``stop_queueing`` writes it
            self.sink.handle(record)
        else:
            super().enqueue(record)

    def stop_queueing(self) -> None:
        """Write every later record directly (called before the listener drains and stops)."""
        self.acquire()
        try:
            self.direct = True
        finally:
            self.release()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        prepared = copy.copy(record)
        if not isinstance(prepared.msg, dict):  # a dict message is merged into the JSON record
            prepared.msg = prepared.getMessage()
        prepared.args = None
        if prepared.exc_info:
            prepared.exc_text = redact_text_cut(logging.Formatter().formatException(prepared.exc_info))
            prepared.exc_info = None
        return prepared


@dataclass
class _Installed:
    handlers: list[logging.Handler] = field(default_factory=list)
    listener: logging.handlers.QueueListener | None = None
    atexit_registered: bool = False


_INSTALLED: Final = _Installed()


def _level(value: str | int, what: str) -> int:
    if isinstance(value, int):
        return value
    number = logging.getLevelName(value.upper())
    if not isinstance(number, int):
        raise ConfigurationError(f"unknown log level {value!r} for {what}")
    return number


def shutdown_logging() -> None:
    """Remove the handler installed by ``configure_logging`` and drain its queue, if any.

    No record the handler accepted is lost, also while other threads keep logging: the handler
    leaves the root logger first, then records still in flight are written directly while the
    queue drains.
    """
    root = logging.getLogger()
    for handler in _INSTALLED.handlers:  # first: no new record reaches them through the root
        root.removeHandler(handler)
    if _INSTALLED.listener is not None:
        for handler in _INSTALLED.handlers:
            if isinstance(handler, _QueueHandler):
                handler.stop_queueing()  # records in flight now bypass the queue ...
        _INSTALLED.listener.stop()  # ... and everything queued before is written here
        _INSTALLED.listener = None
    for handler in _INSTALLED.handlers:
        handler.close()
    _INSTALLED.handlers.clear()


def configure_logging(
    *,
    level: str | int = "INFO",
    json: bool = True,
    levels: Mapping[str, str | int] | None = None,
    queue: bool = False,
    stream: IO[str] | None = None,
    color: bool | None = None,
    drop_extras: Iterable[str] | None = None,
) -> logging.Handler:
    """Configure the root logger once, explicitly.

    Args:
        level: Root level.
        json: JSON lines (True) or text (False).
        levels: Per-logger levels, e.g. ``{"botocore": "WARNING"}``.
        queue: Hand records to a background thread (``QueueHandler`` + ``QueueListener``).
        stream: Output stream (default ``sys.stderr``).
        color: Coloured text; None colours only when the stream is a TTY. Ignored for JSON.
        drop_extras: Presentational ``extra`` keys never written, in JSON and text; None means
            ``PRESENTATIONAL_EXTRAS`` (uvicorn's ``color_message``). It replaces the default:
            ``PRESENTATIONAL_EXTRAS | {"my_key"}`` adds a key, ``()`` keeps every extra.

    Returns:
        The handler attached to the root logger (the ``QueueHandler`` when ``queue=True``).

    Raises:
        ConfigurationError: An unknown level name.
        TypeError: ``drop_extras`` is a string or holds something other than strings.
    """
    dropped = drop_set(drop_extras)
    root_level = _level(level, "root")
    per_logger = {name: _level(value, name) for name, value in (levels or {}).items()}
    shutdown_logging()
    output = stream if stream is not None else sys.stderr
    formatter: logging.Formatter
    if json:
        formatter = JsonFormatter(drop_extras=dropped)
    elif color if color is not None else output.isatty():
        formatter = ColorFormatter(drop_extras=dropped)
    else:
        formatter = TextFormatter(drop_extras=dropped)
    sink = logging.StreamHandler(output)
    sink.setFormatter(formatter)
    front: logging.Handler = sink
    if queue:
        records: queue_module.SimpleQueue[logging.LogRecord] = queue_module.SimpleQueue()
        front = _QueueHandler(records, sink)
        _INSTALLED.listener = logging.handlers.QueueListener(records, sink)
        _INSTALLED.listener.start()
        if not _INSTALLED.atexit_registered:
            atexit.register(shutdown_logging)
            _INSTALLED.atexit_registered = True
    front.addFilter(ContextFilter())
    front.addFilter(RedactionFilter())
    root = logging.getLogger()
    root.addHandler(front)
    root.setLevel(root_level)
    for name, number in per_logger.items():
        logging.getLogger(name).setLevel(number)
    _INSTALLED.handlers.append(front)
    if front is not sink:
        _INSTALLED.handlers.append(sink)
    return front


def get_logger(name: str) -> logging.Logger:
    """Return the standard library logger ``name`` (records get context once logging is configured)."""
    return logging.getLogger(name)


class LoggingSettings(LibrarySettings):
    """Logging settings (env prefix ``COMMONS_LOG_``, YAML section ``logging``)."""

    model_config = SettingsConfigDict(env_prefix="COMMONS_LOG_")
    yaml_section: ClassVar[str] = "logging"

    level: str = "INFO"
    format: Literal["json", "text"] = "json"
    levels: dict[str, str] = Field(default_factory=dict)
    queue: bool = False
    color: bool | None = None
    drop_extras: list[str] = Field(default_factory=lambda: sorted(PRESENTATIONAL_EXTRAS))

    def configure(self, stream: IO[str] | None = None) -> logging.Handler:
        """Call ``configure_logging`` with these settings."""
        return configure_logging(
            level=self.level,
            json=self.format == "json",
            levels=self.levels,
            queue=self.queue,
            stream=stream,
            color=self.color,
            drop_extras=self.drop_extras,
        )
