"""HttpSettings refuses default headers and base URLs the client could never send, naming the field only.

A non-ASCII default header reached httpx as a bare ``UnicodeEncodeError`` from ``create_client``; a
value with a line break failed every request later (with the value in h11's message); a base URL
with port 99999 was accepted and failed each request. Each is a settings error, raised at load time.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from internal_base.errors import ConfigurationError
from internal_http import HttpSettings

SECRET = "k3y-0f-the-t3nant"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Service-Key": SECRET + "é"}, "ASCII"),
        ({"X-Service-Key": SECRET + "\n"}, "cannot send"),
        ({"X-Service-Key": " " + SECRET}, "cannot send"),
        ({"X Service Key": SECRET}, "not a valid header name"),
        ({"": SECRET}, "not a valid header name"),
    ],
)
def test_unsendable_default_header_is_refused(headers: dict[str, str], reason: str) -> None:
    """A default header no request could carry is a ValidationError naming the header, not its value."""
    with pytest.raises(ValidationError, match=reason) as caught:
        HttpSettings(headers=headers)
    assert SECRET not in str(caught.value)
    assert next(iter(headers)) in str(caught.value)


def test_unsendable_header_from_the_environment_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From COMMONS_HTTP_HEADERS, the same value is a ConfigurationError without the value."""
    monkeypatch.setenv("COMMONS_HTTP_HEADERS", '{"X-Service-Key": "' + SECRET + '\\r\\nX-Injected: 1"}')
    with pytest.raises(ConfigurationError, match="X-Service-Key") as caught:
        HttpSettings.load()
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        f"http://user:{SECRET}@api.test:99999/",
        f"http://user:{SECRET}@api.test:0/",
        f"https://user:{SECRET}@:443/",
        f"http://user:{SECRET}@api test/",
    ],
)
def test_base_url_no_request_could_use_is_refused(base_url: str) -> None:
    """A base URL with no host, a space in it or a port outside 1..65535 is refused without its password."""
    with pytest.raises(ValidationError, match="base_url") as caught:
        HttpSettings(base_url=base_url)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "base_url", ["", "http://api.test", "https://[::1]:8443/v1", "http://u:p%40@h:1/x?a=b"]
)
def test_usable_base_urls_are_kept(base_url: str) -> None:
    """Ordinary base URLs (and none) are accepted unchanged."""
    assert HttpSettings(base_url=base_url).base_url == base_url
