"""keyset_pagination over real HTTP and PostgreSQL: every cursor internal_rdbms issues is accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

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
from internal_rdbms import Database, OrderBy, RdbmsSettings, paginate_keyset

# Sort values this long make a cursor of about 3,400 characters: over the 2,048 of a default
# CursorCodec, under the 4,096 internal_rdbms allows for the cursors it issues.
LONG = 2500
names_page = keyset_pagination(default_limit=1, max_limit=5)


class LongBase(DeclarativeBase):
    """A base of its own, so other test apps never drop this table."""


class Label(LongBase):
    """A row with a long sort key."""

    __tablename__ = "fastapi_it_long_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(LONG + 10))


def _build(postgres_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Database(RdbmsSettings(url=postgres_url), health_registry=HealthRegistry()) as database:
            async with database.engine.begin() as connection:
                await connection.run_sync(LongBase.metadata.drop_all)
                await connection.run_sync(LongBase.metadata.create_all)
            async with database.transaction() as session:
                session.add_all(Label(name=letter * LONG) for letter in "abc")
            setup_database(app, database)
            yield

    app = FastAPI(lifespan=lifespan)
    install(app, FastAPISettings(), health_registry=HealthRegistry())

    @app.get("/labels")
    async def labels(
        session: SessionDep, page: Annotated[CursorParams, Depends(names_page)]
    ) -> CursorPageResponse[str]:
        rows = await paginate_keyset(
            session, Label, order=[OrderBy("name")], limit=page.limit, cursor=page.cursor
        )
        return cursor_page_response(rows, lambda label: label.name[:1])

    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str], postgres_url: str) -> str:
    """The app served by uvicorn."""
    return serve_asgi(_build(postgres_url))


async def test_long_rdbms_cursors_are_accepted(base_url: str) -> None:
    """A keyset cursor longer than 2,048 characters, issued by internal_rdbms, fetches the next page."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        first = (await client.get("/labels")).json()
        cursor = first["next_cursor"]
        second = await client.get("/labels", params={"cursor": cursor})
    assert (first["items"], len(cursor) > 2048) == (["a"], True)
    assert (second.status_code, second.json()["items"]) == (200, ["b"])


async def test_absurdly_long_cursors_are_refused(base_url: str) -> None:
    """A cursor far beyond what any layer issues is a 400 before it reaches the database."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.get("/labels", params={"cursor": "x" * 9000})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")
