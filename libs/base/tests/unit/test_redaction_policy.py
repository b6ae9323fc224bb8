"""Tests for the redaction policy against hostile inputs: odd passwords, bytes, header tuples, cycles."""

from __future__ import annotations

import pytest

from internal_base import _redaction
from internal_base.redaction import MASK, is_secret_key, redact, redact_text, redact_url, register_secret_key

PASSWORDS = ["ab/xyz", "a/b/c", "ab?x", "ab#x", "p@ss", "1234/abc"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_redact_url_masks_passwords_with_url_delimiters(password: str) -> None:
    """A raw password holding ``/``, ``?``, ``#`` or ``@`` (SQLAlchemy accepts them) is masked whole."""
    redacted = redact_url(f"postgresql://app:{password}@host:5432/db")
    assert redacted == "postgresql://app:***@host:5432/db"


@pytest.mark.parametrize("password", PASSWORDS)
def test_redact_text_masks_passwords_with_url_delimiters(password: str) -> None:
    """The free-text DSN pattern masks the same passwords whole."""
    text = f"connect failed: postgresql+asyncpg://app:{password}@db/app (timeout)"
    assert redact_text(text) == "connect failed: postgresql+asyncpg://app:***@db/app (timeout)"


def test_redact_text_keeps_host_after_userinfo() -> None:
    """An ``@`` later in the path does not swallow the host: only the password is masked."""
    assert redact_text("mysql://u:pw@db/x?mail=a@b.c") == "mysql://u:***@db/x?mail=a@b.c"


@pytest.mark.parametrize("url", ["sqlite:///x", "sqlite:////abs/path.db", "sqlite+aiosqlite:///:memory:"])
def test_redact_url_returns_urls_without_secrets_unchanged(url: str) -> None:
    """URLs without secrets come back character for character (no ``sqlite:/x``)."""
    assert redact_url(url) == url


def test_redact_url_masks_secret_fragment_parameters() -> None:
    """OAuth-style fragments (``#access_token=``) are masked like query parameters."""
    assert redact_url("https://app/cb#access_token=abc&state=1") == "https://app/cb#access_token=***&state=1"


def test_redact_url_keeps_query_spelling() -> None:
    """Masking a query value does not re-encode the other parameters."""
    assert redact_url("https://h/p?q=a+b%20c&token=x") == "https://h/p?q=a+b%20c&token=***"


def test_bytes_literal_header_value_is_masked() -> None:
    """botocore's header dict (``'X-Amz-Security-Token': b'...'``) loses the token."""
    text = "headers={'X-Amz-Date': b'20260101T000000Z', 'X-Amz-Security-Token': b'IQoJb3JpZ2luX2VjE'}"
    assert redact_text(text) == (
        "headers={'X-Amz-Date': b'20260101T000000Z', 'X-Amz-Security-Token': b'***'}"
    )


def test_header_tuples_are_masked() -> None:
    """httpcore's list of byte tuples has secret header values masked, other headers kept."""
    text = (
        "return_value=(b'HTTP/1.1', 200, b'OK', [(b'content-type', b'text/plain'), "
        "(b'set-cookie', b'sid=abc; Path=/'), (b'x-subject-token', b'tok-1'), "
        "(b'authorization', b'Bearer t')])"
    )
    assert redact_text(text) == (
        "return_value=(b'HTTP/1.1', 200, b'OK', [(b'content-type', b'text/plain'), "
        "(b'set-cookie', b'***'), (b'x-subject-token', b'***'), (b'authorization', b'***')])"
    )


def test_str_header_tuples_are_masked() -> None:
    """Header tuples of str (hpack, h2) are masked the same way."""
    assert redact_text("[(':path', '/'), ('cookie', 'a=b')]") == "[(':path', '/'), ('cookie', '***')]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('password="two words here" user=u', 'password="***" user=u'),
        ("{'secret': 'with spaces, and commas'}", "{'secret': '***'}"),
        ('{"token": "a \\" quoted \\" value"}', '{"token": "***"}'),
        ("password='unterminated and more", "password='***"),
    ],
)
def test_quoted_values_are_masked_whole(text: str, expected: str) -> None:
    """A quoted secret value is masked up to its closing quote, spaces and escapes included."""
    assert redact_text(text) == expected


@pytest.mark.parametrize("key", ["session_id", "signing_key", "encryption_key", "sessionId", "Signing-Key"])
def test_free_text_follows_key_name_policy(key: str) -> None:
    """Every key name ``is_secret_key`` accepts is masked in free text too."""
    assert redact_text(f"{key}=abc123 user=u") == f"{key}=*** user=u"


def test_secret_list_value_is_masked_whole() -> None:
    """A bracketed value under a secret key is masked to its closing bracket."""
    assert redact_text("{'api_keys': ['k1', 'k2'], 'n': 1}") == "{'api_keys': ***, 'n': 1}"


def test_secret_key_inside_non_secret_value_is_masked() -> None:
    """A non-secret pair does not hide a secret pair in its value."""
    assert redact_text("note=password=hunter2") == "note=password=***"


def test_escaped_json_inside_text_is_masked() -> None:
    """JSON escaped inside a string (``\\"token\\": \\"x\\"``) is masked."""
    assert redact_text('body="{\\"token\\": \\"x y\\"}"') == 'body="{\\"token\\": \\"***\\"}"'


def test_bytes_values_are_redacted_as_text() -> None:
    """``bytes`` become their redacted repr, never ``b'password=...'``."""
    assert redact({"body": b"password=hunter2&u=1"}) == {"body": "b'password=***&u=1'"}


def test_header_tuple_objects_are_masked() -> None:
    """A ``(name, value)`` pair with a secret name has its value masked, bytes or str."""
    headers = [(b"accept", b"*/*"), (b"authorization", b"Basic dTpw"), ("x-subject-token", "t")]
    assert redact(headers) == [("b'accept'", "b'*/*'"), ("b'authorization'", MASK), ("x-subject-token", MASK)]


def test_self_reference_becomes_cycle_marker() -> None:
    """A container that contains itself is copied with ``<cycle>`` in place of the back reference."""
    value: dict[str, object] = {"password": "p", "n": 1}
    value["self"] = value
    assert redact(value) == {"password": MASK, "n": 1, "self": "<cycle>"}


def test_shared_structures_are_bounded() -> None:
    """Heavily shared structures (3 references per level) finish, the excess masked."""
    value: dict[str, object] = {"token": "t"}
    for _ in range(40):
        value = {"a": value, "b": value, "c": value}
    result = redact(value)
    assert isinstance(result, dict)
    assert "***" in repr(result)
    assert "'t'" not in repr(result)


def test_huge_values_fail_closed() -> None:
    """A container past the item budget is masked whole rather than returned raw."""
    assert redact({"rows": ["hunter2"] * 20_000}) == {"rows": MASK}


def test_xml_elements_under_secret_names_are_masked() -> None:
    """An STS-style XML body loses its secret elements and keeps the others."""
    body = (
        "<Credentials><SecretAccessKey>abc/def</SecretAccessKey><SessionToken>IQoJ</SessionToken>"
        '<aws:Expiration xmlns:aws="x">2026</aws:Expiration></Credentials>'
    )
    assert redact_text(body) == (
        "<Credentials><SecretAccessKey>***</SecretAccessKey><SessionToken>***</SessionToken>"
        '<aws:Expiration xmlns:aws="x">2026</aws:Expiration></Credentials>'
    )


def test_binary_bytes_are_masked_whole() -> None:
    """Bytes that are not text (an HPACK block, whose values are huffman-coded) become ``<N bytes>``."""
    assert redact([b"\x82\x86\x84A\x8a\x08\x9d", b"plain text\r\n"]) == ["<7 bytes>", "b'plain text\\r\\n'"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("unit", "count"),
    [("a://b:", 50_000), ("a.a.", 150_000), ("x:", 100_000)],
    ids=["userinfo", "scheme", "pairs"],
)
def test_hostile_text_takes_linear_time(unit: str, count: int) -> None:
    """Repeated URL-like fragments (a logged, hostile URL) are redacted in linear, not quadratic, time."""
    text = unit * count + " token=t"
    assert redact_text(text).endswith(" token=***")


def test_long_word_before_scheme_does_not_hide_the_password() -> None:
    """A DSN glued to a long word is still found."""
    assert redact_text("x" * 40 + "_postgresql://u:pw@h/db") == "x" * 40 + "_postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cookie: theme=dark; session=abc\nAccept: */*", "Cookie: ***\nAccept: */*"),
        ("Set-Cookie: sid=abc; Path=/; HttpOnly", "Set-Cookie: ***"),
        ('Authorization: Digest username="u", response="abc"', "Authorization: ***"),
    ],
)
def test_cookie_and_authorization_lines_are_masked_to_the_end(text: str, expected: str) -> None:
    """An unquoted Cookie or Authorization value hides every part, not only the first."""
    assert redact_text(text) == expected


def _spellings(fragment: str) -> list[str]:
    """The fragment as written in code and headers: as is, upper case, snake, kebab and camel case."""
    words = {
        "apikey": ["api", "key"],
        "accesskey": ["access", "key"],
        "privatekey": ["private", "key"],
        "signingkey": ["signing", "key"],
        "encryptionkey": ["encryption", "key"],
        "accountkey": ["account", "key"],
        "subscriptionkey": ["subscription", "key"],
        "masterkey": ["master", "key"],
        "sessionkey": ["session", "key"],
        "sessionid": ["session", "id"],
    }.get(fragment, [fragment])
    camel = words[0] + "".join(word.title() for word in words[1:])
    return [fragment, fragment.upper(), "_".join(words), "-".join(words), camel, f"x-{'-'.join(words)}"]


@pytest.mark.parametrize(
    "name",
    [name for fragment in _redaction._SECRET_FRAGMENTS for name in _spellings(fragment)]
    + sorted(_redaction._SECRET_NAMES | _redaction._SECRET_HEADERS),
)
def test_every_secret_key_name_is_masked_in_free_text(name: str) -> None:
    """Free text follows ``is_secret_key`` for every name it accepts, in every spelling."""
    assert _redaction.is_secret_key(name) is True
    assert redact_text(f"{name}=s3cr3t\nother=1") == f"{name}=***\nother=1"
    assert redact_text(f"{{'{name}': 's 3'}}") == f"{{'{name}': '***'}}"


def test_redact_url_masks_a_password_with_spaces() -> None:
    """A whole URL's password may hold spaces (SQLAlchemy accepts them): masked whole."""
    assert redact_url("postgresql://app:two words@db/app") == "postgresql://app:***@db/app"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mysql --password=hunter2 -u root", "mysql --password=*** -u root"),
        ("cmd -password=hunter2", "cmd -password=***"),
        ("run --api-key abc --verbose", "run --api-key *** --verbose"),
        ("run --api-key --verbose", "run --api-key --verbose"),
    ],
)
def test_command_line_flags_are_masked(text: str, expected: str) -> None:
    """A logged command line loses the values of its secret flags, with ``=`` or a space."""
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", ["MYSQL_PWD=hunter2", "env .db_password=hunter2", "x 1password: hunter2"])
def test_keys_with_prefixes_are_masked(text: str) -> None:
    """A secret name inside a longer key (``MYSQL_PWD``, ``.db_password``, ``1password``) is masked."""
    assert "hunter2" not in redact_text(text)
    assert redact({"MYSQL_PWD": "hunter2"}) == {"MYSQL_PWD": MASK}


def test_redact_url_masks_secrets_nested_in_parameters() -> None:
    """A DSN carried in a query parameter (``?next=postgresql://u:pw@h``) is masked too."""
    assert (
        redact_url("https://h/cb?next=postgresql://u:pw@h/db&x=1")
        == "https://h/cb?next=postgresql://u:***@h/db&x=1"
    )


def test_a_registered_name_is_secret_everywhere() -> None:
    """A name registered at run time is masked in mappings, headers and free text (header tuples)."""
    name = "X-Review-Tenant"
    assert not is_secret_key(name)
    register_secret_key(name)
    assert is_secret_key("x-review-tenant")
    assert redact({"X-Review-Tenant": "t-123"}) == {"X-Review-Tenant": MASK}
    assert "t-123" not in redact_text("[(b'x-review-tenant', b't-123'), (b'content-type', b'text/plain')]")
    assert "t-123" not in redact_text("x-review-tenant=t-123")
