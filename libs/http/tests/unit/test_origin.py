"""Unit tests for origin binding: which redirect hops keep credentials (httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from internal_http import ApiKeyAuth, BasicAuth, BearerAuth, HttpSettings, create_client
from internal_http._origin import origin_of, trusted_hop

SECRET = "s3cret-value"


class Hops:
    """Redirects the first request to ``target`` and records every request it gets."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) == 1:
            joiner = "&" if "?" in self.target else "?"
            query = request.url.query.decode()
            location = f"{self.target}{joiner}{query}" if query else self.target
            return httpx.Response(307, headers={"Location": location})
        return httpx.Response(200)

    def last_carries_secret(self) -> bool:
        last = self.requests[-1]
        return SECRET in str(last.url) or any(SECRET in v for v in last.headers.values())


AUTHS: dict[str, Callable[[], httpx.Auth]] = {
    "api-key": lambda: ApiKeyAuth(SECRET),
    "api-key-odd-header": lambda: ApiKeyAuth(SECRET, header="X-Thing"),
    "api-key-query": lambda: ApiKeyAuth(SECRET, query_param="k"),
    "bearer": lambda: BearerAuth(SECRET),
    "basic": lambda: BasicAuth("u", SECRET),
}


async def _follow(start: str, target: str, auth: httpx.Auth) -> Hops:
    hops = Hops(target)
    settings = HttpSettings(follow_redirects=True)
    async with create_client(settings, auth=auth, transport=httpx.MockTransport(hops)) as client:
        response = await client.get(start)
    assert response.status_code == 200
    assert len(hops.requests) == 2
    return hops


@pytest.mark.parametrize("kind", sorted(AUTHS))
@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("https://api.test/a", "http://api.test/b"),  # downgrade to plain http
        ("https://api.test/a", "https://api.test:8443/b"),  # another port
        ("https://api.test/a", "https://evil.test/b"),  # another host
        ("http://api.test/a", "https://api.test:8443/b"),  # an upgrade, but to another port
    ],
)
async def test_credentials_dropped_for_other_origin(kind: str, start: str, target: str) -> None:
    """A redirect to another scheme, port or host is sent without the credential."""
    hops = await _follow(start, target, AUTHS[kind]())
    if kind == "basic":
        assert "authorization" not in hops.requests[-1].headers
    assert hops.last_carries_secret() is False


@pytest.mark.parametrize("kind", ["api-key", "api-key-odd-header", "bearer"])
@pytest.mark.parametrize(
    ("start", "target"),
    [("https://api.test/a", "https://api.test:443/b"), ("http://api.test/a", "https://api.test/b")],
)
async def test_credentials_kept_for_same_origin_or_upgrade(kind: str, start: str, target: str) -> None:
    """The same origin, and http to https on the same host's default ports, keep header credentials."""
    hops = await _follow(start, target, AUTHS[kind]())
    assert hops.last_carries_secret() is True


def test_origin_of_fills_default_ports() -> None:
    """An origin names the scheme's default port when the URL has none."""
    assert origin_of(httpx.URL("https://A.test/x")) == ("https", "a.test", 443)
    assert origin_of(httpx.URL("http://a.test:8080/")) == ("http", "a.test", 8080)
    assert trusted_hop(("https", "a.test", 443), httpx.URL("http://a.test/")) is False


async def test_only_this_requests_marks_strip_query_parameters() -> None:
    """A query name another client's ApiKeyAuth registered is kept on this client's foreign redirect."""
    ApiKeyAuth("other-key", query_param="page")
    hops = Hops("https://other.test/b")
    settings = HttpSettings(follow_redirects=True)
    transport = httpx.MockTransport(hops)
    async with create_client(settings, auth=BearerAuth(SECRET), transport=transport) as client:
        await client.get("https://api.test/a", params={"page": "2"})
    assert hops.requests[-1].url.params["page"] == "2"
    assert hops.last_carries_secret() is False


async def test_caller_secret_query_dropped_redirect_own_kept() -> None:
    """A secret-named query value of the first hop is dropped abroad; the Location's own signature stays."""
    hops = Hops("https://files.test/b?X-Amz-Signature=sig-1&token=other")
    transport = httpx.MockTransport(hops)
    async with create_client(HttpSettings(follow_redirects=True), transport=transport) as client:
        await client.get("https://api.test/a", params={"token": SECRET, "page": "2"})
    params = hops.requests[-1].url.params
    assert sorted(params.multi_items()) == [("X-Amz-Signature", "sig-1"), ("page", "2"), ("token", "other")]
