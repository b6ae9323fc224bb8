"""Review cases of the redaction policy: PEM keys, ``=>`` pairs, spaced and percent-encoded secrets."""

from __future__ import annotations

import threading

import pytest

from internal_base.redaction import is_secret_key, redact_text, redact_url, register_secret_key

PEM = (
    "-----BEGIN {kind}PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    "AKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END {kind}PRIVATE KEY-----"
)


@pytest.mark.parametrize("kind", ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
def test_pem_private_key_block_is_masked_whole(kind: str) -> None:
    """A PEM private key block in free text is masked from BEGIN to END (its body never shows)."""
    text = f"loaded key {PEM.format(kind=kind)} from vault"
    redacted = redact_text(text)
    assert "MIIEvQIBADAN" not in redacted
    assert "u1SU1LfVLPHC" not in redacted
    assert redacted.startswith("loaded key ")
    assert redacted.endswith(" from vault")


def test_pem_private_key_under_a_secret_name_is_masked_whole() -> None:
    """``private_key: -----BEGIN ...`` masks the body too, not only the first word."""
    redacted = redact_text(f"private_key: {PEM.format(kind='')}")
    assert "MIIEvQIBADAN" not in redacted


def test_escaped_pem_in_json_text_is_masked() -> None:
    """A PEM key inside a JSON string (``\\n`` escaped) is masked whole."""
    body = PEM.format(kind="").replace("\n", "\\n")
    redacted = redact_text(f'{{"type": "service_account", "key": "{body}"}}')
    assert "MIIEvQIBADAN" not in redacted
    assert '"type": "service_account"' in redacted


def test_public_key_and_certificate_blocks_are_kept() -> None:
    """Certificates and public keys are not secrets: they come back unchanged."""
    text = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmg\n-----END CERTIFICATE-----"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "text",
    ['{"password"=>"hunter2"}', "password => 'hunter2'", "password => hunter2", '{:password=>"hunter2"}'],
)
def test_fat_arrow_pairs_are_masked(text: str) -> None:
    """Ruby/PHP/Perl ``key => value`` pairs under a secret name are masked."""
    assert "hunter2" not in redact_text(text)


def test_free_text_url_password_with_spaces_is_masked() -> None:
    """A DSN whose password holds spaces is masked in free text, as ``redact_url`` does for the URL alone."""
    redacted = redact_text("connect to postgresql://app:correct horse battery@db/app failed")
    assert "horse" not in redacted
    assert "correct" not in redacted
    assert redacted.endswith("@db/app failed")


def test_free_text_url_with_port_before_an_address_keeps_the_port() -> None:
    """``http://host:8080 as admin@corp`` is not a userinfo: the port stays visible."""
    text = "calling http://host:8080 as admin@corp"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "url",
    [
        "https://app/login?next=%2Fcb%3Fpassword%3Dhunter2",
        "https://app/cb?next=https%3A%2F%2Fapp%3Ahunter2%40db%2Fx",
        "https://app/cb?next=https%3a%2f%2fapp%3ahunter2%40db%2fx",
    ],
)
def test_percent_encoded_secrets_in_query_values_are_masked(url: str) -> None:
    """A secret pair or URL password percent-encoded inside a query value is masked."""
    assert "hunter2" not in redact_url(url)
    assert "hunter2" not in redact_text(f"redirect to {url}")


def test_percent_encoded_form_body_is_masked() -> None:
    """``password%3Dx`` (an encoded form body in a log line) is masked."""
    assert "hunter2" not in redact_text("body=user%3Dbob%26password%3Dhunter2%26x%3D1")


@pytest.mark.parametrize(
    "name",
    [
        "X-Auth-Key",
        "auth_key",
        "hmac_key",
        "DB_PASS",
        "redis_pass",
        "priv_key",
        "privkey",
        "basic_auth",
        "http_auth",
        "proxy_auth",
    ],
)
def test_common_credential_names_are_secret(name: str) -> None:
    """Credential names in common use (X-Auth-Key, DB_PASS, Elasticsearch's http_auth) are secret."""
    assert is_secret_key(name)
    assert "hunter2" not in redact_text(f"{name}=hunter2")


@pytest.mark.parametrize("name", ["bypass", "passenger", "compass", "auth_url", "public_key", "key"])
def test_look_alike_names_are_not_secret(name: str) -> None:
    """Names that only look like credentials stay visible."""
    assert not is_secret_key(name)


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER ROLE app WITH PASSWORD 'hunter2'",
        "CREATE USER app WITH ENCRYPTED PASSWORD 'hunter2' VALID UNTIL 'infinity'",
        "CREATE USER 'app'@'%' IDENTIFIED BY 'hunter2'",
        "ALTER USER app IDENTIFIED WITH mysql_native_password BY 'hunter2'",
        "SET PASSWORD FOR app = PASSWORD('hunter2')",
        "ALTER ROLE app PASSWORD 'it''s hunter2'",
    ],
)
def test_sql_password_literals_are_masked(statement: str) -> None:
    """Password literals in SQL (echoed statements, driver errors) are masked; the rest stays readable."""
    redacted = redact_text(f"statement failed: {statement}")
    assert "hunter2" not in redacted
    assert redacted.startswith("statement failed: ")


def test_identified_by_in_prose_is_kept() -> None:
    """Prose such as alembic's "revision identified by '9999'" is not a SQL password literal."""
    text = "Can't locate revision identified by '9999'"
    assert redact_text(text) == text


def test_register_secret_key_while_other_threads_redact() -> None:
    """Registering names while other threads redact never raises in those threads."""
    errors: list[BaseException] = []
    stop = threading.Event()

    def redact_loop() -> None:
        while not stop.is_set():
            try:
                redact_text("plain words and x-review-thing=1 but nothing else " * 3)
            except Exception as exc:  # the defect: "Set changed size during iteration"
                errors.append(exc)
                stop.set()

    readers = [threading.Thread(target=redact_loop) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for number in range(20_000):
            register_secret_key(f"x-review-registered-{number}")
            if stop.is_set():
                break
    finally:
        stop.set()
        for reader in readers:
            reader.join(30)
    assert errors == []
    assert is_secret_key("X-Review-Registered-1")


@pytest.mark.parametrize(
    "token",
    [
        "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "glpat-" + "abcDEF123456ghiJKL78",
        "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "sk_live_" + "51HabcdefGHIJKLmnopQRSTuv",
    ],
)
def test_well_known_token_formats_are_masked(token: str) -> None:
    """GitHub, GitLab, Slack and Stripe tokens are masked in free text, also as a URL's user name."""
    assert token not in redact_text(f"using {token} for the call")
    assert token not in redact_text(f"git clone https://{token}@github.com/org/repo.git")
    assert token not in redact_url(f"https://{token}@github.com/org/repo.git")
