"""Tests for the redaction policy."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from internal_base.redaction import MASK, is_secret_key, redact, redact_headers, redact_text, redact_url


@pytest.mark.parametrize(
    "name",
    ["password", "DB_PASSWORD", "apiKey", "X-API-Key", "client_secret", "access_token", "pwd", "Cookie"],
)
def test_secret_key_names(name: str) -> None:
    """Common secret names are recognised in any case and style."""
    assert is_secret_key(name) is True


@pytest.mark.parametrize("name", ["user", "host", "author", "port", "key_prefix"])
def test_plain_key_names(name: str) -> None:
    """Ordinary names are not secret."""
    assert is_secret_key(name) is False


def test_mask_constant() -> None:
    """The mask is three asterisks."""
    assert MASK == "***"


def test_redact_url_masks_password() -> None:
    """The userinfo password of a DSN is masked, the user kept."""
    assert redact_url("postgresql://app:s3cret@db:5432/app") == "postgresql://app:***@db:5432/app"


def test_redact_url_masks_secret_query_values() -> None:
    """Secret query parameters are masked, others kept."""
    assert redact_url("https://h/p?token=abc&page=2") == "https://h/p?token=***&page=2"


def test_redact_url_without_secrets_is_unchanged() -> None:
    """A URL without secrets comes back unchanged."""
    assert redact_url("redis://localhost:6379/0?db=1") == "redis://localhost:6379/0?db=1"


def test_redact_url_with_malformed_port_falls_back_to_text() -> None:
    """An unparseable URL is still redacted as text."""
    assert redact_url("redis://u:pw@host:notaport/0") == "redis://u:***@host:notaport/0"


def test_redact_headers() -> None:
    """Authorization, cookies and API keys are masked; other headers kept."""
    headers = {"Authorization": "Bearer x", "Set-Cookie": "s=1", "X-Api-Key": "k", "Accept": "*/*"}
    assert redact_headers(headers) == {
        "Authorization": MASK,
        "Set-Cookie": MASK,
        "X-Api-Key": MASK,
        "Accept": "*/*",
    }


def test_redact_text_dsn() -> None:
    """DSN passwords inside free text are masked."""
    assert redact_text("failed mysql://root:pw@db/x now") == "failed mysql://root:***@db/x now"


def test_redact_text_bearer() -> None:
    """Bearer tokens are masked."""
    assert redact_text("sent Bearer abc.def-ghi") == "sent Bearer ***"


def test_redact_text_authorization_header_line() -> None:
    """An Authorization header line loses both scheme and credentials."""
    assert redact_text("Authorization: Basic dXNlcjpwYXNz") == "Authorization: ***"


def test_redact_text_key_value() -> None:
    """``key=value`` secrets are masked, other pairs kept."""
    assert redact_text("user=bob password=hunter2 api_key=k1") == "user=bob password=*** api_key=***"


def test_redact_text_json_style() -> None:
    """Quoted JSON-style secrets are masked."""
    assert redact_text('{"client_secret": "abc", "n": 1}') == '{"client_secret": "***", "n": 1}'


def test_redact_text_jwt_and_aws_key() -> None:
    """JWTs and AWS access key IDs are masked."""
    text = "jwt eyJhbGciOi.eyJzdWIiOi.sig key AKIAABCDEFGHIJKLMNOP"
    assert redact_text(text) == f"jwt {MASK} key {MASK}"


def test_redact_text_leaves_port_paths_alone() -> None:
    """A URL with a port and no userinfo is left alone."""
    assert redact_text("see http://host:8080/p?q=1 now") == "see http://host:8080/p?q=1 now"


def test_redact_text_port_path_with_at_fails_closed() -> None:
    """``host:8080/p@x`` reads as user ``host`` with a password to SQLAlchemy, so it is masked."""
    assert redact_text("http://host:8080/p@x") == "http://host:***@x"


def test_redact_recursive_mapping() -> None:
    """Nested mappings and lists are redacted by key and by content."""
    value = {"user": "u", "password": "p", "items": [{"token": "t"}, "dsn redis://:pw@h/0"]}
    assert redact(value) == {
        "user": "u",
        "password": MASK,
        "items": [{"token": MASK}, "dsn redis://:***@h/0"],
    }


def test_redact_keeps_container_types() -> None:
    """Tuples and sets stay tuples and sets."""
    assert redact(("a", frozenset({"b"}))) == ("a", frozenset({"b"}))


def test_redact_secret_str() -> None:
    """pydantic secrets become the mask."""
    assert redact([SecretStr("x")]) == [MASK]


def test_redact_leaves_other_objects() -> None:
    """Numbers, None and arbitrary objects are returned unchanged."""
    marker = object()
    assert redact([1, 2.5, None, True, marker]) == [1, 2.5, None, True, marker]


def test_redact_does_not_modify_input() -> None:
    """The input mapping is not modified."""
    value = {"password": "p"}
    redact(value)
    assert value == {"password": "p"}


def test_redact_stops_at_depth_limit() -> None:
    """Very deep structures are cut off instead of recursing forever."""
    value: list[object] = ["password=x"]
    for _ in range(30):
        value = [value]
    result = redact(value)
    assert isinstance(result, list)


def test_redact_masks_past_depth_limit() -> None:
    """Past the nesting limit the rest of the value is masked, never returned raw."""
    value: list[object] = ["hunter2"]
    for _ in range(25):
        value = [value]
    inner = redact(value)
    for _ in range(20):
        assert isinstance(inner, list)
        inner = inner[0]
    assert inner == MASK
