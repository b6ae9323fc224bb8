"""Tests for correlation/request ID validation of incoming carriers."""

from __future__ import annotations

import pytest

from internal_base.context import (
    correlation_scope,
    extract_context,
    get_correlation_id,
    get_request_id,
    is_valid_correlation_id,
)

BAD_IDS = [
    "",
    "a" * 129,
    "has space",
    'quote"d',
    "line\nbreak",
    "tab\there",
    "nul\x00",
    "del\x7f",
    "ünïcode",
    "semi;colon",
    "<script>",
]


@pytest.mark.parametrize(
    "value",
    ["a", "a" * 128, "abc-DEF_123", "svc:order.42", "user@host/path+x=y", "9f86d081884c7d659a2feaa0c55ad015"],
)
def test_valid_ids_are_accepted(value: str) -> None:
    """IDs of 1..128 safe characters are accepted."""
    assert is_valid_correlation_id(value) is True


@pytest.mark.parametrize("value", [None, *BAD_IDS])
def test_invalid_ids_are_refused(value: str | None) -> None:
    """Missing, empty, too long or unsafe IDs are refused."""
    assert is_valid_correlation_id(value) is False


def test_max_length_is_configurable() -> None:
    """``max_length`` bounds the accepted length."""
    accepted = [is_valid_correlation_id(v, max_length=4) for v in ("abcd", "abcde")]
    assert accepted == [True, False]


def test_non_string_is_refused() -> None:
    """A non-string value (a carrier from an untyped source) is refused, not an error."""
    assert is_valid_correlation_id(42) is False  # type: ignore[arg-type]


def test_trailing_newline_is_refused() -> None:
    """A trailing newline is refused (``$`` would have let it through)."""
    assert is_valid_correlation_id("abc\n") is False


@pytest.mark.parametrize("value", BAD_IDS)
def test_extract_context_replaces_invalid_correlation_id(value: str) -> None:
    """An invalid correlation ID in a carrier is ignored and a fresh valid one is generated."""
    with extract_context({"X-Correlation-ID": value}):
        current = get_correlation_id()
    assert (current != value, is_valid_correlation_id(current)) == (True, True)


@pytest.mark.parametrize("value", BAD_IDS)
def test_extract_context_replaces_invalid_request_id(value: str) -> None:
    """An invalid request ID in a carrier is ignored and a fresh valid one is generated."""
    with extract_context({"X-Correlation-ID": "ok", "x-request-id": value}):
        current = get_request_id()
    assert (current != value, is_valid_correlation_id(current)) == (True, True)


def test_extract_context_keeps_valid_ids() -> None:
    """Valid IDs in a carrier are reused as they are."""
    with extract_context({"X-Correlation-ID": "svc:order.42", "X-Request-ID": "req/7"}):
        assert (get_correlation_id(), get_request_id()) == ("svc:order.42", "req/7")


def test_is_valid_correlation_id_is_exported_from_the_root() -> None:
    """The validation rule is part of the package root API."""
    import internal_base

    assert internal_base.is_valid_correlation_id is is_valid_correlation_id


def test_extract_context_max_length_is_configurable() -> None:
    """A caller that accepts longer IDs (the HTTP middleware's max_length) passes its limit."""
    long_id = "a" * 300
    with extract_context({"X-Correlation-ID": long_id, "X-Request-ID": long_id}, max_length=512):
        assert (get_correlation_id(), get_request_id()) == (long_id, long_id)


@pytest.mark.parametrize("value", ["has space", "line\nbreak", "x" * 1025, "quote'd"])
def test_correlation_scope_refuses_unsafe_ids(value: str) -> None:
    """An ID that could break a header or forge a log line is refused by correlation_scope."""
    with pytest.raises(ValueError, match="correlation ID"):
        correlation_scope(value)


def test_correlation_scope_refuses_unsafe_request_ids() -> None:
    """An unsafe request ID is refused too."""
    with pytest.raises(ValueError, match="request ID"):
        correlation_scope("ok", request_id="bad\r\nSet-Cookie: x")


def test_correlation_scope_error_does_not_echo_raw_control_characters() -> None:
    """The error shows the refused ID escaped, so logging it cannot forge a line."""
    with pytest.raises(ValueError) as info:
        correlation_scope("a\nb")
    assert "\n" not in str(info.value)


def test_correlation_scope_accepts_long_ids_up_to_1024() -> None:
    """IDs up to 1024 safe characters (the middleware's largest max_length) are accepted."""
    with correlation_scope("a" * 1024):
        assert get_correlation_id() == "a" * 1024
