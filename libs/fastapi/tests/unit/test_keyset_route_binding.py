"""Raw internal_rdbms keyset cursors bound to the route and query through ``codec=params.codec``.

SQLite in memory through internal_rdbms (its own seam), the app in process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from internal_base.health import HealthRegistry
from internal_fastapi import CursorPageResponse, CursorParams, FastAPISettings, install
from internal_fastapi.extensions.rdbms import (
    SessionDep,
    cursor_page_response,
    keyset_pagination,
    setup_database,
)
from internal_rdbms import Database, Eq, RdbmsSettings, Repository

SECRET = "cursor-secret-for-the-tests-0123"
LONG = 2500  # sort values this long make cursors longer than a default codec's 2,048 characters
page_params = keyset_pagination(default_limit=2, max_limit=10)


class BindingBase(DeclarativeBase):
    """A base of its own."""


class Item(BindingBase):
    """A row sorted by name."""

    __tablename__ = "fastapi_binding_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(LONG + 10))
    kind: Mapped[str] = mapped_column(String(10))


def _build(names: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = RdbmsSettings(url="sqlite+aiosqlite:///:memory:")
        async with Database(settings, health_registry=HealthRegistry()) as database:
            await database.create_all(BindingBase.metadata)
            async with database.transaction() as session:
                session.add_all(
                    Item(name=name, kind="a" if index % 2 else "b") for index, name in enumerate(names)
                )
            setup_database(app, database)
            yield

    app = FastAPI(lifespan=lifespan)
    install(app, FastAPISettings(cursor_secret=SECRET, log_requests=False), health_registry=HealthRegistry())

    def route(path: str, *, bound: bool) -> None:
        @app.get(path)
        async def listing(
            session: SessionDep, page: Annotated[CursorParams, Depends(page_params)], kind: str | None = None
        ) -> CursorPageResponse[str]:
            filters = [Eq("kind", kind)] if kind else []
            rows = await Repository(session, Item).keyset(
                *filters,
                order_by="name",
                limit=page.limit,
                cursor=page.cursor,
                codec=page.codec if bound else None,
            )
            return cursor_page_response(rows, lambda item: item.name[:5])

    route("/a/items", bound=True)
    route("/b/items", bound=True)
    route("/unbound/a", bound=False)
    route("/unbound/b", bound=False)
    return app


@pytest.fixture()
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, and an in-process client."""
    app = _build([f"n{index}" for index in range(6)])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


async def test_a_bound_cursor_pages_its_own_listing(client: httpx.AsyncClient) -> None:
    """Chained bound cursors walk the listing they were issued for."""
    first = (await client.get("/a/items")).json()
    second = (await client.get("/a/items", params={"cursor": first["next_cursor"]})).json()
    assert (first["items"], second["items"]) == (["n0", "n1"], ["n2", "n3"])


async def test_a_bound_cursor_is_refused_by_another_route(client: httpx.AsyncClient) -> None:
    """Same model and order, another route: a 400, where an unbound cursor would be accepted."""
    bound = (await client.get("/a/items")).json()["next_cursor"]
    refused = await client.get("/b/items", params={"cursor": bound})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_query")
    unbound = (await client.get("/unbound/a")).json()["next_cursor"]
    assert (await client.get("/unbound/b", params={"cursor": unbound})).status_code == 200


async def test_a_bound_cursor_is_refused_with_other_filters(client: httpx.AsyncClient) -> None:
    """A cursor issued for ``?kind=a`` is refused for ``?kind=b`` on the same route."""
    cursor = (await client.get("/a/items", params={"kind": "a"})).json()["next_cursor"]
    refused = await client.get("/a/items", params={"kind": "b", "cursor": cursor})
    assert refused.status_code == 400


async def test_long_sort_values_still_make_bound_cursors() -> None:
    """Bound cursors hold what internal_rdbms issues (over 2,048 characters)."""
    app = _build([letter * LONG for letter in "abc"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            first = (await http.get("/a/items")).json()
            assert len(first["next_cursor"]) > 2048
            second = (await http.get("/a/items", params={"cursor": first["next_cursor"]})).json()
    assert (first["items"], second["items"]) == (["aaaaa", "bbbbb"], ["ccccc"])


async def test_the_bound_codec_hides_its_key() -> None:
    """``params.codec`` shows no secret, says whether it is keyed and refuses non-string purposes."""
    seen: list[Any] = []
    app = FastAPI()
    install(app, FastAPISettings(cursor_secret=SECRET, log_requests=False), health_registry=HealthRegistry())

    @app.get("/codec")
    async def codec(page: Annotated[CursorParams, Depends(page_params)]) -> dict[str, str]:
        seen.append(page.codec)
        return {}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        await http.get("/codec")
    assert SECRET not in repr(seen[0])
    assert seen[0].ephemeral is False
    with pytest.raises(TypeError, match="purpose"):
        seen[0].encode({"v": 1}, purpose=None)
