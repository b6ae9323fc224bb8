"""A cursor only works where it was issued: route, path parameters, sort; keyed by settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from internal_base.cursor import CursorCodec as BaseCursorCodec
from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi import (
    CursorPageResponse,
    CursorParams,
    FastAPISettings,
    cursor_pagination,
    install,
)

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]
NUMBERS = list(range(1, 11))
LETTERS = list("abcdefghij")
SECRET = "cursor-secret-for-the-tests-0123"

shared = cursor_pagination(default_limit=3, max_limit=10)
named = cursor_pagination(default_limit=3, purpose="alphabet")
sort_only = cursor_pagination(default_limit=3, bind_query=("sort",))
raw_short = cursor_pagination(raw=True, max_raw_length=64)


def _page(rows: list[str], params: CursorParams, sort: str = "asc") -> CursorPageResponse[str]:
    ordered = sorted(rows, reverse=sort == "desc")
    start = params.position["index"] if params.position else 0
    items = ordered[start : start + params.limit]
    more = start + params.limit < len(ordered)
    return CursorPageResponse[str](
        items=items,
        limit=params.limit,
        next_cursor=params.next_cursor({"index": start + params.limit} if more else None),
    )


def _build(settings: FastAPISettings | None = None) -> FastAPI:
    app = FastAPI()
    install(app, settings or FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/numbers")
    async def numbers(
        p: Annotated[CursorParams, Depends(shared)], sort: str = "asc"
    ) -> CursorPageResponse[str]:
        return _page([f"{n:02d}" for n in NUMBERS], p, sort)

    @app.get("/letters")
    async def letters(
        p: Annotated[CursorParams, Depends(shared)], sort: str = "asc"
    ) -> CursorPageResponse[str]:
        return _page(LETTERS, p, sort)

    @app.get("/groups/{group}/items")
    async def group_items(group: int, p: Annotated[CursorParams, Depends(shared)]) -> CursorPageResponse[str]:
        return _page([f"{group}-{n}" for n in NUMBERS], p)

    @app.get("/v1/alphabet")
    async def alphabet_v1(p: Annotated[CursorParams, Depends(named)]) -> CursorPageResponse[str]:
        return _page(LETTERS, p)

    @app.get("/v2/alphabet")
    async def alphabet_v2(p: Annotated[CursorParams, Depends(named)]) -> CursorPageResponse[str]:
        return _page(LETTERS, p)

    @app.get("/filtered")
    async def filtered(
        p: Annotated[CursorParams, Depends(sort_only)], sort: str = "asc", q: str = ""
    ) -> CursorPageResponse[str]:
        return _page([row for row in LETTERS if q in row or not q], p, sort)

    return app


@pytest.fixture()
def bound_app() -> FastAPI:
    """Several routes sharing cursor dependencies, installed with a configured secret."""
    return _build(FastAPISettings(cursor_secret=SECRET))


async def _next(client: httpx.AsyncClient, url: str) -> str:
    cursor = (await client.get(url)).json()["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


async def test_cursor_from_another_route_is_400(bound_app: FastAPI, make_client: ClientFactory) -> None:
    """A cursor issued by /numbers is refused by /letters (same dependency) and accepted by /numbers."""
    async with make_client(bound_app) as client:
        cursor = await _next(client, "/numbers")
        foreign = await client.get("/letters", params={"cursor": cursor})
        home = await client.get("/numbers", params={"cursor": cursor})
    assert (foreign.status_code, foreign.json()["code"]) == (400, "invalid_cursor")
    assert foreign.headers["content-type"] == "application/problem+json"
    assert (home.status_code, home.json()["items"]) == (200, ["04", "05", "06"])


async def test_cursor_from_another_sort_is_400(bound_app: FastAPI, make_client: ClientFactory) -> None:
    """A cursor issued for ?sort=asc is refused with ?sort=desc."""
    async with make_client(bound_app) as client:
        cursor = await _next(client, "/letters?sort=asc")
        other = await client.get("/letters", params={"cursor": cursor, "sort": "desc"})
        same = await client.get("/letters", params={"cursor": cursor, "sort": "asc"})
    assert (other.status_code, other.json()["code"]) == (400, "invalid_cursor")
    assert (same.status_code, same.json()["items"]) == (200, ["d", "e", "f"])


async def test_limit_may_change_between_pages(bound_app: FastAPI, make_client: ClientFactory) -> None:
    """``limit`` is not bound: the next page may be larger."""
    async with make_client(bound_app) as client:
        cursor = await _next(client, "/letters")
        response = await client.get("/letters", params={"cursor": cursor, "limit": 5})
    assert (response.status_code, response.json()["items"]) == (200, ["d", "e", "f", "g", "h"])


async def test_cursor_from_another_path_parameter_is_400(
    bound_app: FastAPI, make_client: ClientFactory
) -> None:
    """A cursor from /groups/1/items is refused by /groups/2/items."""
    async with make_client(bound_app) as client:
        cursor = await _next(client, "/groups/1/items")
        other = await client.get("/groups/2/items", params={"cursor": cursor})
        same = await client.get("/groups/1/items", params={"cursor": cursor})
    assert (other.status_code, same.status_code) == (400, 200)


async def test_caller_purpose_spans_routes(bound_app: FastAPI, make_client: ClientFactory) -> None:
    """Routes sharing a caller-given purpose accept each other's cursors; others still refuse them."""
    async with make_client(bound_app) as client:
        cursor = await _next(client, "/v1/alphabet")
        v2 = await client.get("/v2/alphabet", params={"cursor": cursor})
        elsewhere = await client.get("/letters", params={"cursor": cursor})
    assert (v2.status_code, v2.json()["items"], elsewhere.status_code) == (200, ["d", "e", "f"], 400)


async def test_bind_query_names_the_bound_parameters(bound_app: FastAPI, make_client: ClientFactory) -> None:
    """With ``bind_query=("sort",)`` a changed filter is accepted, a changed sort is not."""
    async with make_client(bound_app) as client:
        cursor = await _next(client, "/filtered?sort=asc&q=")
        refiltered = await client.get("/filtered", params={"cursor": cursor, "sort": "asc", "q": "x"})
        resorted = await client.get("/filtered", params={"cursor": cursor, "sort": "desc"})
    assert (refiltered.status_code, resorted.status_code) == (200, 400)


async def test_settings_secret_survives_a_restart(make_client: ClientFactory) -> None:
    """Two apps (a restart, another worker) with the same cursor_secret accept each other's cursors."""
    first, restarted = (
        _build(FastAPISettings(cursor_secret=SECRET)),
        _build(FastAPISettings(cursor_secret=SECRET)),
    )
    stranger = _build(FastAPISettings(cursor_secret=SECRET + "-other"))
    async with make_client(first) as one, make_client(restarted) as two, make_client(stranger) as three:
        cursor = await _next(one, "/letters")
        again = await two.get("/letters", params={"cursor": cursor})
        refused = await three.get("/letters", params={"cursor": cursor})
    assert (again.status_code, refused.status_code) == (200, 400)


def _legacy_forgery(position: dict[str, int]) -> str:
    """A cursor signed the way the previous release did, with its public built-in key."""
    payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    tag = hmac.new(b"internal-fastapi-cursor-v1", payload, hashlib.sha256).digest()[:12]
    encode = base64.urlsafe_b64encode
    return f"{encode(payload).rstrip(b'=').decode()}.{encode(tag).rstrip(b'=').decode()}"


async def test_no_public_default_key(make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    """Without a secret, a cursor forged with a publicly known key is refused."""
    caplog.set_level(logging.WARNING, logger="internal_base.cursor")
    async with make_client(_build()) as client:
        response = await client.get("/letters", params={"cursor": _legacy_forgery({"index": 8})})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


async def test_without_secret_cursors_work_within_the_process(make_client: ClientFactory) -> None:
    """Without a secret the per-process key still lets a client walk every page."""
    seen: list[str] = []
    async with make_client(_build()) as client:
        params: dict[str, str] = {}
        for _ in range(10):
            body = (await client.get("/letters", params=params)).json()
            seen.extend(body["items"])
            if body["next_cursor"] is None:
                break
            params = {"cursor": body["next_cursor"]}
    assert seen == LETTERS


async def test_without_install_the_process_codec_is_used(make_client: ClientFactory) -> None:
    """A bare FastAPI app (no install) still signs and verifies cursors."""
    app = FastAPI()

    @app.get("/letters")
    async def letters(p: Annotated[CursorParams, Depends(shared)]) -> CursorPageResponse[str]:
        return _page(LETTERS, p)

    async with make_client(app) as client:
        cursor = await _next(client, "/letters")
        response = await client.get("/letters", params={"cursor": cursor})
    assert response.json()["items"] == ["d", "e", "f"]


def test_short_cursor_secret_is_refused() -> None:
    """A cursor_secret under 16 bytes is a configuration error naming the field."""
    with pytest.raises(ValueError, match="cursor_secret"):
        FastAPISettings(cursor_secret="short")


def test_cursor_secret_is_masked_in_repr() -> None:
    """The cursor secret never appears in the settings' repr or str."""
    settings = FastAPISettings(cursor_secret=SECRET)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


def test_cursor_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``COMMONS_FASTAPI_CURSOR_SECRET`` configures the secret."""
    monkeypatch.setenv("COMMONS_FASTAPI_CURSOR_SECRET", SECRET)
    secret = FastAPISettings.load().cursor_secret
    assert secret is not None
    assert secret.get_secret_value() == SECRET


def test_bind_query_must_not_be_a_string() -> None:
    """``bind_query="sort"`` (a string, not a list of names) is refused at definition time."""
    with pytest.raises(ConfigurationError, match="bind_query"):
        cursor_pagination(bind_query="sort")


def test_max_raw_length_must_be_positive() -> None:
    """``max_raw_length=0`` is refused at definition time."""
    with pytest.raises(ConfigurationError, match="max_raw_length"):
        cursor_pagination(raw=True, max_raw_length=0)


async def test_raw_cursors_pass_through_with_their_listing(make_client: ClientFactory) -> None:
    """With ``raw=True`` the cursor reaches the route untouched, with the listing's binding string."""
    app = _build()

    @app.get("/raw/{group}")
    async def passthrough(group: int, p: Annotated[CursorParams, Depends(raw_short)]) -> list[str | None]:
        return [p.cursor, p.purpose]

    async with make_client(app) as client:
        ok = await client.get("/raw/7", params={"cursor": "opaque.token", "sort": "-name"})
        too_long = await client.get("/raw/7", params={"cursor": "x" * 65})
    assert ok.json() == ["opaque.token", '["/raw/{group}",[["group","7"]],[["sort","-name"]]]']
    assert (too_long.status_code, too_long.json()["code"]) == (400, "invalid_cursor")


_NO_SECRET_APP = """
import asyncio, logging, sys
from typing import Annotated
import httpx
from fastapi import APIRouter, Depends, FastAPI
from internal_base.health import HealthRegistry
from internal_fastapi import CursorParams, FastAPISettings, cursor_pagination, install

logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
pages = cursor_pagination(default_limit=1)
app = FastAPI()
install(app, FastAPISettings(), health_registry=HealthRegistry())

@app.get("/rows")
async def rows(p: Annotated[CursorParams, Depends(pages)]) -> dict[str, object]:
    start = p.position["i"] if p.position else 0
    return {"row": start, "next": p.next_cursor({"i": start + 1})}

async def main() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        cursor = None
        for _ in range(3):
            body = (await client.get("/rows", params={"cursor": cursor} if cursor else {})).json()
            cursor = body["next"]
        print(body["row"])

asyncio.run(main())
"""


def test_without_secret_one_warning_per_process() -> None:
    """An app without cursor_secret pages normally and logs the per-process-key WARNING once."""
    done = subprocess.run(
        [sys.executable, "-c", _NO_SECRET_APP],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={key: value for key, value in os.environ.items() if key != "COMMONS_FASTAPI_CURSOR_SECRET"},
    )
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING internal_base.cursor")]
    assert (done.stdout.strip(), len(warnings)) == ("2", 1)


async def test_base_cursor_errors_from_any_layer_are_400(make_client: ClientFactory) -> None:
    """An internal_base InvalidCursorError raised by a route is a 400 invalid_cursor problem."""
    app = _build()

    @app.get("/decode")
    async def decode(token: str) -> dict[str, object]:
        return BaseCursorCodec(SECRET).decode(token, purpose="elsewhere")

    async with make_client(app) as client:
        response = await client.get("/decode", params={"token": "not-a-cursor"})
    body = response.json()
    assert (response.status_code, body["code"]) == (400, "invalid_cursor")
    assert body["detail"].startswith("invalid cursor: not a cursor issued by this API")


def _router_app() -> FastAPI:
    """The same router included twice, under /a and under /b/nested (FastAPI 0.165 keeps them nested)."""
    app = FastAPI()
    install(app, FastAPISettings(cursor_secret=SECRET), health_registry=HealthRegistry(cache_ttl=0))
    router = APIRouter()

    @router.get("/items/{group}")
    async def items(group: int, p: Annotated[CursorParams, Depends(shared)]) -> CursorPageResponse[str]:
        return _page(LETTERS, p)

    nested = APIRouter(prefix="/nested")
    nested.include_router(router)
    app.include_router(router, prefix="/a")
    app.include_router(nested, prefix="/b")
    return app


async def test_cursor_from_the_same_route_under_another_prefix_is_400(make_client: ClientFactory) -> None:
    """Routes of included routers are bound by their full path: /a/items/1's cursor is refused at
    /b/nested/items/1 (the same route object, the same router-relative template)."""
    async with make_client(_router_app()) as client:
        cursor = await _next(client, "/a/items/1")
        other = await client.get("/b/nested/items/1", params={"cursor": cursor})
        same = await client.get("/a/items/1", params={"cursor": cursor})
        back = await client.get("/a/items/1", params={"cursor": await _next(client, "/b/nested/items/1")})
    assert (other.status_code, other.json()["code"]) == (400, "invalid_cursor")
    assert (same.status_code, back.status_code) == (200, 400)
