"""The JSON and text formatters of ``configure_logging``.

Both redact what only becomes text here: an object in ``extra`` (an exception, a dataclass, a
pydantic model or URL) is turned into text and *then* redacted, tracebacks and stack traces are
redacted, and no ``extra``/bound/dict-message key can take the name of a standard field
(``level``, ``timestamp``, ``logger``, ``message``, the context fields, ``exc_info``,
``stack_info``): such a key is written as ``extra_<name>``. Text output escapes control and
line-break characters, so one log call is one line (traceback lines are indented). Both escape
lone surrogates (``\\udc80``), which a strict UTF-8 stream could not write.
"""

from __future__ import annotations

import copy
import logging
import math
import re
from collections.abc import Container, Iterable
from datetime import UTC, datetime
from typing import Any, Final

import coloredlogs
from pydantic import BaseModel
from pythonjsonlogger.json import JsonEncoder
from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from internal_base._context import RESERVED_KEYS
from internal_base._redaction import redact_cut, redact_text_cut

CONTEXT_FIELDS: Final = ("correlation_id", "request_id", "trace_id", "span_id")
#: Names of the fields a JSON record always has; extras under these names become ``extra_<name>``.
STANDARD_FIELDS: Final = frozenset(
    {"timestamp", "level", "logger", "message", *CONTEXT_FIELDS, "exc_info", "stack_info"}
)
_RECORD_FIELDS: Final = STANDARD_FIELDS - {"exc_info", "stack_info"}
_TEXT_FORMAT: Final = "%(asctime)s %(levelname)-8s %(name)s [%(correlation_id)s] %(message)s"
_JSON_FIELDS: Final = ("levelname", "name", "message", *CONTEXT_FIELDS)
_SKIP: Final = RESERVED_KEYS | {"exc_info", "stack_info"}
#: Extra keys that only style console output and are never written: uvicorn passes the coloured
#: copy of its message as ``extra={"color_message": ...}``. The default of ``drop_extras``.
PRESENTATIONAL_EXTRAS: Final[frozenset[str]] = frozenset({"color_message"})
# Set on a record by ContextFilter / RedactionFilter once they have run on it.
STAMPED: Final = "_commons_context"
REDACTED: Final = "_commons_redacted"
# ANSI/VT escape sequences (CSI incl. SGR colours, OSC, two-character ESC sequences, 8-bit CSI),
# then any lone ESC or CSI left: removed from every string of a JSON record.
_ANSI: Final = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]?|\x9b"
)

# Every character that ends a line for str.splitlines() or a terminal, plus the other C0/C1
# controls and DEL: escaped in text output so that a value cannot start a forged log line.
_CONTROL: Final = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]))
_NEEDS_ESCAPE: Final = re.compile(f"[{re.escape(_CONTROL)}]")
_ESCAPES: Final = {
    ord(char): {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(
        char, f"\\u{ord(char):04x}" if ord(char) > 0xFF else f"\\x{ord(char):02x}"
    )
    for char in _CONTROL
}
_BLOCK_ESCAPES: Final = {code: escape for code, escape in _ESCAPES.items() if code != ord("\n")}
# json.dumps(ensure_ascii=False) escapes C0 controls but writes these line breaks raw.
_JSON_BREAKS: Final = re.compile("[\x85\u2028\u2029]")
_JSON_BREAK_ESCAPES: Final = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


# Lone surrogates (``os.fsdecode`` of a non-UTF-8 name, ``surrogateescape`` input) cannot be
# encoded by a strict UTF-8 stream: the record would be lost with a "Logging error".
_SURROGATES: Final = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """``text`` with every lone surrogate written as ``\\udXXX`` (a valid JSON escape too)."""
    if text.isascii() or _SURROGATES.search(text) is None:
        return text
    return _SURROGATES.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def escape_line(text: str) -> str:
    """``text`` with every control and line-break character written as an escape sequence."""
    return text.translate(_ESCAPES) if _NEEDS_ESCAPE.search(text) else text


def _escape_block(text: str) -> str:
    """A multi-line block (traceback) kept on its lines, each indented, other controls escaped."""
    lines = text.translate(_BLOCK_ESCAPES).split("\n")
    return "\n".join(f"  {line}" for line in lines)


def filtered(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` when ``RedactionFilter`` ran on it; else a copy that ``ContextFilter`` (unless it
    ran) and ``RedactionFilter`` have prepared: a formatter on a handler of the caller's own
    (``dictConfig``) still writes the IDs, masks secrets and survives odd attribute names."""
    if REDACTED in record.__dict__:
        return record
    from internal_base._logging import ContextFilter, RedactionFilter  # here: _logging imports this module

    prepared = copy.copy(record)
    if STAMPED not in prepared.__dict__:
        ContextFilter().filter(prepared)
    RedactionFilter().filter(prepared)
    return prepared


def renamed(key: str, taken: Container[object]) -> str:
    """``extra_<key>`` (prefixed again while that name is ``taken`` too)."""
    name = f"extra_{key}"
    while name in taken:
        name = f"extra_{name}"
    return name


def redacted_text_of(value: object) -> str:
    """``str(value)`` redacted; a value whose ``str``/``repr`` raises becomes ``<unprintable T>``."""
    try:
        return redact_text_cut(str(value))
    except Exception:  # a broken __str__ must not lose the record
        try:
            return redact_text_cut(repr(value))
        except Exception:
            return f"<unprintable {type(value).__name__}>"


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves) or stray ESC/CSI characters."""
    return _ANSI.sub("", text) if "\x1b" in text or "\x9b" in text else text


def _without_ansi(value: object) -> object:
    """``value`` with ANSI sequences removed from every string in it (dict keys included).

    A key whose stripped text is already taken (``"\x1b[1mlevel"`` next to ``level``, two keys
    differing only by colour) is written with its escapes made visible (``\x1b[1mlevel``, plain
    text): no value is lost and no key can take a standard field's name.
    """
    if isinstance(value, str):
        return strip_ansi(value)
    if isinstance(value, dict):
        stripped: dict[object, object] = {}
        for key, item in value.items():
            name = strip_ansi(key) if isinstance(key, str) else key
            if name is not key and (name in value or name in stripped):
                name = escape_line(key)
                while name in value or name in stripped:
                    name = f"extra_{name}"
            stripped[name] = _without_ansi(item)
        return stripped
    if isinstance(value, list | tuple):
        return [_without_ansi(item) for item in value]
    return value


def drop_set(drop_extras: Iterable[str] | None) -> frozenset[str]:
    """The extra keys a formatter drops: ``PRESENTATIONAL_EXTRAS`` for None; strings only."""
    if drop_extras is None:
        return PRESENTATIONAL_EXTRAS
    if isinstance(drop_extras, str):
        raise TypeError(f"drop_extras must be a collection of key names, not the string {drop_extras!r}")
    names = frozenset(drop_extras)
    odd = sorted(repr(name) for name in names if not isinstance(name, str))
    if odd:
        raise TypeError(f"drop_extras must hold key names (str); got {', '.join(odd)}")
    return names


def _in_record_order(attrs: dict[Any, object], keys: set[Any]) -> list[Any]:
    """``keys`` in the order of ``attrs``, found from its end (extras come after the standard attributes)."""
    if len(keys) == 1:
        return list(keys)
    found: list[Any] = []
    remaining = len(keys)
    for key in reversed(attrs):
        if key in keys:
            found.append(key)
            remaining -= 1
            if not remaining:
                break
    found.reverse()
    return found


def _plain(value: object) -> object:
    """``value`` when it is a string or None, else its redacted text (``<unprintable T>`` at worst)."""
    return value if value is None or isinstance(value, str) else redacted_text_of(value)


class _RedactingEncoder(JsonEncoder):
    """python-json-logger's encoder whose conversions of unknown objects are redacted afterwards."""

    def default(self, o: Any) -> Any:
        """Convert ``o`` as python-json-logger does (models via ``model_dump``), then redact the result."""
        try:
            converted = o.model_dump(mode="json") if isinstance(o, BaseModel) else super().default(o)
            return redact_cut(converted)
        except Exception:  # e.g. asdict() of a self-referencing dataclass
            return redacted_text_of(o)


class _AnsiFreeEncoder(_RedactingEncoder):
    """``_RedactingEncoder`` whose conversions of unknown objects lose their ANSI sequences too."""

    def default(self, o: Any) -> Any:
        """Convert and redact ``o`` as ``_RedactingEncoder`` does, then strip ANSI sequences."""
        return _without_ansi(super().default(o))


class JsonFormatter(_BaseJsonFormatter):
    """python-json-logger's formatter with the commons field names and redacted tracebacks.

    Fields: ``timestamp`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``correlation_id``,
    ``request_id``, ``trace_id``, ``span_id`` (always present, ``null`` when unset: no span is
    current), then every extra/bound key (``extra_<name>`` for one named like a standard field).
    Lines are shippable as they are: no ANSI escape sequence is written (they are stripped from
    every string), and the presentational extras in ``drop_extras`` are left out.

    Args:
        drop_extras: Extra keys never written; None means ``PRESENTATIONAL_EXTRAS``
            (``{"color_message"}``). Pass ``PRESENTATIONAL_EXTRAS | {"my_key"}`` to add one,
            ``()`` to keep every extra.
    """

    def __init__(self, *, drop_extras: Iterable[str] | None = None) -> None:
        super().__init__(
            list(_JSON_FIELDS),
            rename_fields={"levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
        self.drop_extras = drop_set(drop_extras)
        self._skip = _SKIP | self.drop_extras | {STAMPED, REDACTED}
        self._second: tuple[int, str] = (-1, "")
        # One encoder for every record: what json.dumps(..., cls=JsonEncoder, ensure_ascii=False)
        # would build per call.
        self._encoder = _RedactingEncoder(ensure_ascii=False)
        self._ansi_free_encoder = _AnsiFreeEncoder(ensure_ascii=False)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        """Serialise with the shared encoder: one line, no ANSI escapes, lone surrogates escaped.

        U+0085/U+2028/U+2029 are escaped so a record stays one line. ESC is always written as
        ``\\u001b`` by the encoder, so a line without that text (the usual case, one search) holds
        no ANSI sequence; otherwise the record is encoded again with every sequence removed.
        """
        encoder: _RedactingEncoder = self._encoder
        try:
            line = encoder.encode(log_data)
        except (TypeError, ValueError, RecursionError):  # never lose the record: write its values as text
            line = encoder.encode({key: _plain(value) for key, value in log_data.items()})
        ascii_only = line.isascii()
        if "\\u001b" in line or (not ascii_only and "\x9b" in line):
            encoder = self._ansi_free_encoder
            try:
                line = encoder.encode(_without_ansi(log_data))
            except (TypeError, ValueError, RecursionError):
                line = encoder.encode(_without_ansi({key: _plain(value) for key, value in log_data.items()}))
            ascii_only = line.isascii()
        if ascii_only:
            return line
        return escape_surrogates(
            line if not _JSON_BREAKS.search(line) else line.translate(_JSON_BREAK_ESCAPES)
        )

    def format(self, record: logging.LogRecord) -> str:
        """python-json-logger's ``format`` without the steps these fields never use (``asctime``).

        The same record either way: a dict message is merged (copied, never modified), the
        traceback and stack come from ``formatException``/``formatStack`` unless the dict
        message has them, then ``add_fields``, ``process_log_record`` and ``serialize_log_record``.
        """
        record = filtered(record)
        msg = record.msg
        message_dict: dict[str, Any]
        if isinstance(msg, dict):
            message_dict = msg.copy()
            record.message = ""
        else:
            message_dict = {}
            record.message = record.getMessage()
        if record.exc_info and not message_dict.get("exc_info"):
            message_dict["exc_info"] = self.formatException(record.exc_info)
        if not message_dict.get("exc_info") and record.exc_text:
            message_dict["exc_info"] = record.exc_text
        if record.stack_info and not message_dict.get("stack_info"):
            message_dict["stack_info"] = self.formatStack(record.stack_info)
        log_data: dict[str, Any] = {}
        self.add_fields(log_data, record, message_dict)
        return self.serialize_log_record(self.process_log_record(log_data))

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Put ``timestamp`` first, then the standard fields, then the extras."""
        attrs = record.__dict__
        get = attrs.get
        log_data["timestamp"] = self._timestamp(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = get("message")
        log_data["correlation_id"] = get("correlation_id")
        log_data["request_id"] = get("request_id")
        log_data["trace_id"] = get("trace_id")
        log_data["span_id"] = get("span_id")
        for key, value in message_dict.items():  # a dict message, exc_info, stack_info
            if key in _RECORD_FIELDS:  # set by RedactionFilter already; kept for a bare formatter
                key = renamed(key, message_dict)
            log_data[key] = value
        # The extra and bound keys, found in C (a set difference), written in the record's order.
        extras = attrs.keys() - self._skip
        if extras:
            for key in _in_record_order(attrs, extras):
                value = attrs[key]
                if isinstance(key, str):
                    if key[:1] == "_":
                        continue
                    if key in STANDARD_FIELDS:
                        key = renamed(key, attrs)
                log_data[key] = value

    def _timestamp(self, created: float) -> str:
        """``created`` as ISO 8601 in UTC with microseconds; the date and time part made once a second.

        A time no date can hold (NaN, out of range, not a number: ``makeLogRecord`` accepts any)
        is written as its text, so the record is never lost.
        """
        try:
            return self._iso(created)
        except (ValueError, OverflowError, TypeError, OSError):
            return redacted_text_of(created)

    def _iso(self, created: float) -> str:
        seconds = math.floor(created)
        micros = round((created - seconds) * 1_000_000)
        if micros >= 1_000_000:
            seconds, micros = seconds + 1, micros - 1_000_000
        cached = self._second
        if cached[0] != seconds:
            # isoformat, not strftime: "%Y" writes year 999 as "999" on glibc, not "0999".
            moment = datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
            cached = (seconds, moment.isoformat(timespec="seconds"))
            self._second = cached  # one tuple: threads sharing the formatter never see a torn pair
        return f"{cached[1]}.{micros:06d}+00:00"

    def formatException(self, ei: Any) -> str:
        """Format the traceback with secrets masked."""
        return redact_text_cut(logging.Formatter.formatException(self, ei))

    def formatStack(self, stack_info: str) -> str:
        """Format the stack with secrets masked."""
        return redact_text_cut(stack_info)


class _TextMixin:
    """Shared behaviour of the plain and coloured text formatters."""

    def format(self, record: logging.LogRecord) -> str:
        """Format with the traceback rendered here (redacted, indented), whoever rendered it before."""
        record = filtered(record)
        saved = record.exc_text
        if record.exc_info:
            record.exc_text = self.formatException(record.exc_info)
        elif saved:  # rendered before the queue, or by another handler
            record.exc_text = _escape_block(redact_text_cut(saved))
        try:
            return escape_surrogates(str(super().format(record)))  # type: ignore[misc]
        finally:
            record.exc_text = saved

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The local time as ``logging`` writes it; a time no date can hold as its text (never lost)."""
        try:
            return str(super().formatTime(record, datefmt))  # type: ignore[misc]
        except (ValueError, OverflowError, TypeError, OSError):
            return redacted_text_of(record.created)

    def formatException(self, ei: Any) -> str:
        """Format the traceback with secrets masked, each line indented."""
        return _escape_block(redact_text_cut(logging.Formatter.formatException(logging.Formatter(), ei)))

    def formatStack(self, stack_info: str) -> str:
        """Format the stack with secrets masked, each line indented."""
        return _escape_block(redact_text_cut(stack_info))

    def formatMessage(self, record: logging.LogRecord) -> str:
        """Format the escaped main line (``-`` for a missing correlation ID) and append the extras."""
        attrs = record.__dict__
        saved = {name: attrs.get(name) for name in ("message", "name", "correlation_id")}
        correlation_id = saved["correlation_id"]
        attrs["correlation_id"] = "-" if correlation_id is None else escape_line(str(correlation_id))
        attrs["message"] = escape_line(str(saved["message"]))
        attrs["name"] = escape_line(str(saved["name"]))
        try:
            return str(super().formatMessage(record)) + self.suffix(record)  # type: ignore[misc]
        finally:
            attrs.update(saved)

    drop_extras: frozenset[str] = PRESENTATIONAL_EXTRAS

    def suffix(self, record: logging.LogRecord) -> str:
        """`` key=value`` for trace IDs and each extra or bound key but ``drop_extras``, redacted, escaped."""
        attrs = record.__dict__
        skip = self.drop_extras
        extras = {
            key: value
            for key, value in attrs.items()
            if key not in RESERVED_KEYS and key not in skip and not str(key).startswith("_")
        }
        for key in ("trace_id", "span_id"):
            value = attrs.get(key)
            if value is not None:
                extras[key] = value
        parts = []
        for key, value in extras.items():
            name = renamed(key, attrs) if key in STANDARD_FIELDS and key not in CONTEXT_FIELDS else key
            text = redact_text_cut(value) if isinstance(value, str) else redacted_text_of(value)
            parts.append(f" {escape_line(name)}={escape_line(text)}")
        return "".join(parts)


class TextFormatter(_TextMixin, logging.Formatter):
    """Plain text: ``time level logger [correlation_id] message key=value ...``.

    ``trace_id=`` and ``span_id=`` are appended while a span is current, left out otherwise.

    Args:
        drop_extras: Extra keys never written (None: ``PRESENTATIONAL_EXTRAS``), as for ``JsonFormatter``.
    """

    def __init__(self, *, drop_extras: Iterable[str] | None = None) -> None:
        super().__init__(_TEXT_FORMAT)
        self.drop_extras = drop_set(drop_extras)


class ColorFormatter(_TextMixin, coloredlogs.ColoredFormatter):  # type: ignore[misc]
    """Coloured text (coloredlogs) with the same layout as ``TextFormatter``.

    Args:
        drop_extras: Extra keys never written (None: ``PRESENTATIONAL_EXTRAS``), as for ``JsonFormatter``.
    """

    def __init__(self, *, drop_extras: Iterable[str] | None = None) -> None:
        super().__init__(fmt=_TEXT_FORMAT)
        self.drop_extras = drop_set(drop_extras)
