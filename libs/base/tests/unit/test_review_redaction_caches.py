"""Review of redaction after the speed work: no cache or memo lets a secret through."""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid
from collections.abc import Iterator

import pytest

from internal_base.logging import configure_logging, get_logger, shutdown_logging
from internal_base.redaction import is_secret_key, redact, redact_text, register_secret_key

log = get_logger("tests.review_redaction_caches")


@pytest.fixture(params=[True, False], ids=["json", "text"])
def buffer(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Logging into a buffer, as JSON and as text."""
    stream = io.StringIO()
    configure_logging(stream=stream, json=request.param)
    yield stream
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)


def _fresh_name() -> str:
    """A header name no policy guesses and no other test registered."""
    return f"x-tenant-{uuid.uuid4().hex[:8]}"


def test_an_extra_key_logged_before_it_is_registered_is_masked_after(buffer: io.StringIO) -> None:
    """The extra-key cache of the logging filter must not remember "not secret" past a registration."""
    name = _fresh_name()
    log.info("before", extra={name: "visible-value"})
    register_secret_key(name)
    log.info("after", extra={name: "hidden-value"})
    text = buffer.getvalue()
    assert "visible-value" in text
    assert "hidden-value" not in text


def test_is_secret_key_is_true_for_a_name_registered_while_others_look_it_up() -> None:
    """Lookups racing a registration never leave a stale False behind."""
    for _ in range(5):
        name = _fresh_name()
        stop = threading.Event()

        def look(name: str = name, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                is_secret_key(name)

        threads = [threading.Thread(target=look) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            register_secret_key(name)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert is_secret_key(name)
        assert is_secret_key(name.upper())


class _Sneaky(str):
    """A str whose text, when formatted or converted, is not its characters."""

    __slots__ = ()

    def __str__(self) -> str:
        return "password=hunter2"

    def __format__(self, spec: str) -> str:
        return "password=hunter2"

    def lower(self) -> str:
        return "nothing to see"

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


def test_a_str_subclass_is_redacted_by_its_characters() -> None:
    """Overriding ``lower``/``__eq__`` cannot hide a secret; the result is a plain str."""
    text = _Sneaky("db password=hunter2")
    redacted = redact_text(text)
    assert redacted.__class__ is str
    assert redacted == "db password=***"
    assert redact({"note": text}) == {"note": "db password=***"}


def test_a_str_subclass_extra_writes_the_text_that_was_checked(buffer: io.StringIO) -> None:
    """What the formatter writes is what redaction inspected, not the subclass's own ``__format__``."""
    log.info("x", extra={"note": _Sneaky("harmless")})
    text = buffer.getvalue()
    assert "hunter2" not in text
    assert "harmless" in text
    if text.startswith("{"):
        assert json.loads(text)["note"] == "harmless"


class _Huge:
    """An object whose text is 1.2 million characters with secrets at both ends."""

    def __str__(self) -> str:
        return "password=hunter2 " + "q" * 1_200_000 + " token=tail-secret"


def test_huge_extra_values_are_cut_like_messages(buffer: io.StringIO) -> None:
    """A string extra, a string inside a list and an object's text are each cut to 100,000 characters."""
    big = "password=hunter2 " + "q" * 1_200_000 + " token=tail-secret"
    log.info("x", extra={"body": big, "items": [big], "thing": _Huge(), "mapping": {"m": big}})
    text = buffer.getvalue()
    assert len(text) < 5 * 100_000
    assert "hunter2" not in text
    assert "tail-secret" not in text
    assert text.count("characters cut>") == 4


def test_a_cut_value_is_cut_once(buffer: io.StringIO) -> None:
    """Text output redacts extras again: the marker counts the characters of the original."""
    log.info("x", extra={"body": "w" * 250_000})
    assert "... <150000 characters cut>" in buffer.getvalue()


@pytest.mark.parametrize("queue", [False, True], ids=["direct", "queue"])
@pytest.mark.parametrize("json_format", [True, False], ids=["json", "text"])
def test_a_huge_exception_message_is_cut_in_the_traceback(queue: bool, json_format: bool) -> None:
    """``log.exception`` of a 1.2 MB message writes a bounded traceback that keeps its frames."""
    stream = io.StringIO()
    configure_logging(stream=stream, json=json_format, queue=queue)
    try:
        try:
            raise ValueError("password=hunter2 " + "e" * 1_200_000 + " token=tail-secret")
        except ValueError:
            log.exception("failed")
    finally:
        shutdown_logging()
        logging.getLogger().setLevel(logging.WARNING)
    text = stream.getvalue()
    assert len(text) < 3 * 100_000
    assert "hunter2" not in text
    assert "tail-secret" not in text
    assert "test_a_huge_exception_message_is_cut_in_the_traceback" in text  # the frame is kept
    assert "characters cut>" in text
