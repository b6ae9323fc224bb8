"""Cursors over real HTTP (uvicorn): a cursor only works on the route and sort that issued it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from internal_base.health import HealthRegistry
from internal_fastapi import CursorPageResponse, CursorParams, FastAPISettings, cursor_pagination, install

pages = cursor_pagination(default_limit=2, max_limit=10)


def _page(rows: list[str], params: CursorParams, sort: str) -> CursorPageResponse[str]:
    ordered = sorted(rows, reverse=sort == "desc")
    start = params.position["index"] if params.position else 0
    more = start + params.limit < len(ordered)
    return CursorPageResponse[str](
        items=ordered[start : start + params.limit],
        limit=params.limit,
        next_cursor=params.next_cursor({"index": start + params.limit} if more else None),
    )


def _build() -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(cursor_secret="integration-cursor-secret"), health_registry=HealthRegistry())

    @app.get("/numbers")
    async def numbers(
        p: Annotated[CursorParams, Depends(pages)], sort: str = "asc"
    ) -> CursorPageResponse[str]:
        return _page(["1", "2", "3", "4", "5"], p, sort)

    @app.get("/letters")
    async def letters(
        p: Annotated[CursorParams, Depends(pages)], sort: str = "asc"
    ) -> CursorPageResponse[str]:
        return _page(["a", "b", "c", "d", "e"], p, sort)

    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str]) -> str:
    """The app served by uvicorn."""
    return serve_asgi(_build())


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        yield http


async def test_cursor_from_numbers_is_refused_by_letters(client: httpx.AsyncClient) -> None:
    """The next_cursor of /numbers is a 400 invalid_cursor on /letters and page 2 on /numbers."""
    cursor = (await client.get("/numbers")).json()["next_cursor"]
    letters = await client.get("/letters", params={"cursor": cursor})
    numbers = await client.get("/numbers", params={"cursor": cursor})
    assert (letters.status_code, letters.json()["code"]) == (400, "invalid_cursor")
    assert (numbers.status_code, numbers.json()["items"]) == (200, ["3", "4"])


async def test_cursor_from_one_sort_is_refused_by_another(client: httpx.AsyncClient) -> None:
    """A cursor from ?sort=desc is a 400 with ?sort=asc (or no sort)."""
    cursor = (await client.get("/letters", params={"sort": "desc"})).json()["next_cursor"]
    asc = await client.get("/letters", params={"cursor": cursor, "sort": "asc"})
    default = await client.get("/letters", params={"cursor": cursor})
    desc = await client.get("/letters", params={"cursor": cursor, "sort": "desc"})
    assert (asc.status_code, default.status_code) == (400, 400)
    assert (desc.status_code, desc.json()["items"]) == (200, ["c", "b"])
