"""filters_dependency: only filter parameters reach the repository, against PostgreSQL over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi import CursorPageResponse, CursorParams, FastAPISettings, install
from internal_fastapi.extensions.rdbms import (
    SessionDep,
    cursor_page_response,
    filters_dependency,
    keyset_pagination,
    setup_database,
)
from internal_rdbms import Database, Filter, RdbmsSettings, Repository, Search


class FilterBase(DeclarativeBase):
    """A base of its own, so other test apps never drop this table."""


class Article(FilterBase):
    """An article row; ``secret`` must never be filterable."""

    __tablename__ = "fastapi_it_filter_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    views: Mapped[int]
    secret: Mapped[str] = mapped_column(String(100))


ARTICLES = [
    ("alpha", "published", 5),
    ("beta", "published", 50),
    ("gamma", "draft", 500),
    ("delta", "published", 20),
    ("epsilon", "published", 70),
]
article_filters = filters_dependency(Article, allowed={"status", "views", "title"}, exclude={"q"})
articles_page = keyset_pagination(default_limit=10, max_limit=10)


def _app(postgres_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = RdbmsSettings(url=postgres_url, health_check_timeout=30)
        async with Database(settings, health_registry=HealthRegistry()) as database:
            async with database.engine.begin() as connection:
                await connection.run_sync(FilterBase.metadata.drop_all)
                await connection.run_sync(FilterBase.metadata.create_all)
            async with database.transaction() as session:
                session.add_all(
                    Article(title=title, status=status, views=views, secret=f"s-{title}")
                    for title, status, views in ARTICLES
                )
            setup_database(app, database)
            yield

    app = FastAPI(lifespan=lifespan)
    install(app, FastAPISettings(log_requests=False), health_registry=HealthRegistry())

    @app.get("/articles")
    async def articles(
        session: SessionDep,
        filters: Annotated[list[Filter], Depends(article_filters)],
        page: Annotated[CursorParams, Depends(articles_page)],
        order: str = "title",
        q: str = "",
    ) -> CursorPageResponse[str]:
        repository = Repository(session, Article)
        if q:
            filters = [*filters, Search("title", q)]
        rows = await repository.keyset(*filters, order_by=order, limit=page.limit, cursor=page.cursor)
        return cursor_page_response(rows, lambda article: article.title)

    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str], postgres_url: str) -> str:
    """The app, served by uvicorn; its lifespan creates and fills the table."""
    return serve_asgi(_app(postgres_url))


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield http


async def test_filters_reach_the_repository_without_paging_parameters(client: httpx.AsyncClient) -> None:
    """``limit``, ``order`` and ``cursor`` are not filters; the filter parameters select the rows."""
    params = {"status": "published", "views__ge": "20", "limit": "2", "order": "-views"}
    first = (await client.get("/articles", params=params)).json()
    assert first["items"] == ["epsilon", "beta"]
    second = (await client.get("/articles", params={**params, "cursor": first["next_cursor"]})).json()
    assert (second["items"], second["next_cursor"]) == (["delta"], None)


async def test_the_routes_own_parameters_can_be_excluded(client: httpx.AsyncClient) -> None:
    """A parameter listed in ``exclude`` (``q``) is left to the route."""
    body = (await client.get("/articles", params={"q": "ta", "status": "published"})).json()
    assert body["items"] == ["beta", "delta"]


async def test_a_field_outside_allowed_is_400(client: httpx.AsyncClient) -> None:
    """Filtering by a column that is not allowed is a 400 naming the field, and reveals no row."""
    response = await client.get("/articles", params={"secret__startswith": "s-a"})
    body = response.json()
    assert (response.status_code, body["code"]) == (400, "invalid_query")
    assert "secret" in body["detail"]
    assert "alpha" not in response.text


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"views__ge": "many"}, "views"),
        ({"views__between": "1"}, "views__between"),
        ({"title__isnull": "maybe"}, "title__isnull"),
    ],
)
async def test_bad_filter_values_are_400(
    client: httpx.AsyncClient, params: dict[str, str], named: str
) -> None:
    """A value the column cannot hold or an unknown operator is a 400 naming the parameter."""
    response = await client.get("/articles", params=params)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_query")
    assert named in response.json()["detail"]


async def test_a_repeated_filter_is_400(client: httpx.AsyncClient) -> None:
    """``?status=a&status=b`` is refused (it would silently match nothing), pointing at ``__in``."""
    response = await client.get("/articles", params=[("status", "draft"), ("status", "published")])
    body = response.json()
    assert (response.status_code, body["code"]) == (400, "invalid_query")
    assert "'status'" in body["detail"]
    assert "__in" in body["detail"]


def test_allowed_is_checked_when_the_dependency_is_made() -> None:
    """``allowed`` must be a non-empty collection of the model's fields."""
    with pytest.raises(ConfigurationError, match="nope"):
        filters_dependency(Article, allowed={"status", "nope"})
    with pytest.raises(ConfigurationError, match="not a string"):
        filters_dependency(Article, allowed="status")
    with pytest.raises(ConfigurationError, match="at least one"):
        filters_dependency(Article, allowed=())
