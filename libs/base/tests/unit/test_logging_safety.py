"""Logging never breaks the caller, never lies about a record and never lets a secret through."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pytest
from pydantic import BaseModel, PostgresDsn, SecretStr

from internal_base.logging import configure_logging, get_logger, shutdown_logging

DSN = "postgresql://app:ab/xyz@db:5432/app"
PYDANTIC_DSN = "postgresql://app:s3cr3t@db:5432/app"  # pydantic rejects a "/" in the password
BREAKS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@dataclasses.dataclass
class Credentials:
    """A dataclass carrying a secret the way application code does."""

    user: str
    password: str


class DbConfig(BaseModel):
    """A pydantic model with a DSN and a secret."""

    dsn: PostgresDsn
    token: SecretStr


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Parse the JSON lines written so far."""
    return [json.loads(line) for line in buffer.getvalue().split("\n") if line]


@pytest.mark.parametrize(
    "value",
    [
        ConnectionError(f"could not connect to {DSN}"),
        Credentials(user="app", password="ab/xyz"),
        DbConfig(dsn=PYDANTIC_DSN, token=SecretStr("ab/xyz")),
        PostgresDsn(PYDANTIC_DSN),
        [ValueError(f"nested {DSN}")],
    ],
    ids=["exception", "dataclass", "model", "url", "list-of-exception"],
)
def test_objects_in_extra_are_redacted_as_text(output: io.StringIO, value: object) -> None:
    """An object in ``extra`` is redacted after it is turned into text, in JSON and text output."""
    get_logger("t.objects").error("failed", extra={"detail": value})
    text = output.getvalue()
    assert "detail" in text
    assert ("ab/xyz" in text, "s3cr3t" in text) == (False, False)


def test_bytes_extra_never_prints_the_secret(output: io.StringIO) -> None:
    """A ``bytes`` extra is printed as its redacted repr, never ``b'password=...'`` nor base64."""
    get_logger("t.bytes").info("body", extra={"body": b"password=hunter2&user=u"})
    text = output.getvalue()
    assert "b'password=***&user=u'" in text
    assert "hunter2" not in text


def test_malformed_call_does_not_raise(output: io.StringIO) -> None:
    """``log.info("%s %s", x)`` returns normally and writes a record saying the call was malformed."""
    get_logger("t.malformed").info("%s and %s", "token=abc")
    text = output.getvalue()
    assert "malformed log call" in text
    assert "token=***" in text
    assert "abc" not in text


def test_unredactable_record_fails_closed(json_output: io.StringIO) -> None:
    """A record whose extras cannot be walked is masked whole and the call still returns."""

    class Hostile(dict[str, str]):
        def items(self) -> Any:
            raise RuntimeError("no")

    get_logger("t.hostile").warning("x", extra={"payload": Hostile(a="password=p"), "n": 1})
    record = records(json_output)[0]
    assert (record["level"], record["message"], record["payload"], record["n"]) == (
        "WARNING",
        "<log record could not be redacted: RuntimeError>",
        "***",
        "***",
    )


@pytest.mark.parametrize("name", ["level", "timestamp", "logger"])
def test_extra_cannot_overwrite_standard_fields(json_output: io.StringIO, name: str) -> None:
    """An extra named like a standard field is written as ``extra_<name>``; the record keeps its own."""
    get_logger("t.reserved").error("real", extra={name: "forged"})
    record = records(json_output)[0]
    assert (record["level"], record["logger"], record["message"]) == ("ERROR", "t.reserved", "real")
    assert (record["timestamp"] != "forged", record[f"extra_{name}"]) == (True, "forged")


def test_dict_message_cannot_overwrite_standard_fields(json_output: io.StringIO) -> None:
    """A dict message's ``level``/``logger``/``exc_info`` keys are renamed, the real ones kept."""
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("t.dictmsg").exception({"level": "debug", "logger": "x", "exc_info": "none"})
    record = records(json_output)[0]
    assert (record["level"], record["logger"], record["extra_level"], record["extra_exc_info"]) == (
        "ERROR",
        "t.dictmsg",
        "debug",
        "none",
    )
    assert "ValueError: boom" in record["exc_info"]


@pytest.mark.timeout(60)
def test_shared_structures_do_not_hang(output: io.StringIO) -> None:
    """Three references to one dict per level (3**40 paths) log promptly, the excess masked."""
    value: dict[str, object] = {"leaf": 1}
    for _ in range(40):
        value = {"a": value, "b": value, "c": value}
    get_logger("t.shared").info("shared", extra={"tree": value})
    assert "shared" in output.getvalue()


def test_cycles_do_not_lose_the_record(output: io.StringIO) -> None:
    """A self-referencing extra is written with ``<cycle>`` in place of the back reference."""
    value: dict[str, object] = {"name": "loop"}
    value["self"] = value
    items: list[object] = [1]
    items.append(items)
    get_logger("t.cycle").info("cyclic", extra={"value": value, "items": items})
    text = output.getvalue()
    assert "cyclic" in text
    assert text.count("<cycle>") == 2


def test_cyclic_dataclass_extra_is_written(output: io.StringIO) -> None:
    """A dataclass that refers to itself is written (its repr), not dropped."""

    @dataclasses.dataclass
    class Node:
        token: str
        next: object = None

    node = Node(token="t0k3n")
    node.next = node
    get_logger("t.node").info("node", extra={"node": node})
    text = output.getvalue()
    assert "node" in text
    assert "t0k3n" not in text


def test_queue_merges_dict_messages() -> None:
    """With ``queue=True`` a dict message is merged into the JSON record as without the queue."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, queue=True)
    try:
        get_logger("t.qdict").warning({"event": "started", "password": "pw"})
    finally:
        shutdown_logging()
    record = records(buffer)[0]
    assert (record["event"], record["password"], record["message"]) == ("started", "***", "")


@pytest.mark.parametrize("brk", BREAKS, ids=[f"U+{ord(b):04X}" for b in BREAKS])
def test_text_output_is_one_line_per_call(brk: str) -> None:
    """Text output escapes every line break in the message, the extras and their keys."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=False)
    try:
        get_logger("t.lines").warning(f"a{brk}b %s", f"c{brk}d", extra={"note": f"e{brk}f", f"k{brk}": 1})
    finally:
        shutdown_logging()
    output = buffer.getvalue()
    assert output.endswith("\n")
    assert len(output[:-1].splitlines()) == 1
    assert brk not in output[:-1]


@pytest.mark.parametrize("brk", BREAKS, ids=[f"U+{ord(b):04X}" for b in BREAKS])
def test_json_output_is_one_line_per_call(json_output: io.StringIO, brk: str) -> None:
    """A JSON record stays one line for ``str.splitlines`` too (U+2028 and friends escaped)."""
    get_logger("t.jsonlines").warning(f"a{brk}b", extra={"note": f"e{brk}f"})
    line = json_output.getvalue()[:-1]
    assert len(line.splitlines()) == 1
    assert (json.loads(line)["message"], json.loads(line)["note"]) == (f"a{brk}b", f"e{brk}f")


def test_text_traceback_cannot_forge_a_record() -> None:
    """Every traceback line is indented, so an exception message cannot start a fake record."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=False)
    try:
        try:
            raise ValueError("bad\n2026-01-01 00:00:00,000 INFO     forged [-] hello")
        except ValueError:
            get_logger("t.tb").exception("failed")
    finally:
        shutdown_logging()
    lines = buffer.getvalue().splitlines()
    assert lines[1:]
    assert all(line.startswith("  ") for line in lines[1:])


def test_unprintable_extra_does_not_lose_the_record(output: io.StringIO) -> None:
    """An extra whose ``str`` and ``repr`` raise does not lose the record."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    get_logger("t.broken").warning("kept", extra={"thing": Broken()})
    text = output.getvalue()
    assert ("kept" in text, "thing" in text, text.count("\n")) == (True, True, 1)


def test_queued_traceback_is_indented_in_text() -> None:
    """A traceback rendered before the queue is still redacted and indented in text output."""
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=False, queue=True)
    try:
        try:
            raise ValueError("token=abc\nforged line")
        except ValueError:
            get_logger("t.qtb").exception("failed")
    finally:
        shutdown_logging()
    lines = buffer.getvalue().splitlines()
    assert all(line.startswith("  ") for line in lines[1:])
    assert ("token=***" in buffer.getvalue(), "abc" in buffer.getvalue()) == (True, False)


def test_unencodable_values_do_not_lose_the_record(output: io.StringIO) -> None:
    """An int past Python's digit limit (``str()`` raises) and tuple keys still give one record."""
    get_logger("t.huge").warning("huge", extra={"n": 10**5000, "m": {("a", "b"): 1}})
    text = output.getvalue()
    assert ("huge" in text, "<unprintable int>" in text, "('a', 'b')" in text, text.count("\n")) == (
        True,
        True,
        True,
        1,
    )
