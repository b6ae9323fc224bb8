"""Database and cache dependencies against real PostgreSQL and Redis, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import String, UniqueConstraint, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from internal_base.health import HealthRegistry
from internal_cache import CacheClient, CacheSettings
from internal_fastapi import (
    ConflictError,
    FastAPISettings,
    OffsetPageResponse,
    OffsetParams,
    install,
    offset_pagination,
)
from internal_fastapi.extensions.cache import CacheDep, setup_cache
from internal_fastapi.extensions.rdbms import (
    DatabaseDep,
    SessionDep,
    TransactionDep,
    offset_page_response,
    setup_database,
)
from internal_rdbms import Database, RdbmsSettings, paginate_offset

notes_page = offset_pagination(default_limit=2, max_limit=10)


class NoteBase(DeclarativeBase):
    """A base of its own, so other test apps never drop this table."""


class Note(NoteBase):
    """A note row."""

    __tablename__ = "fastapi_it_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


class Ticket(NoteBase):
    """A row whose unique code is checked only at COMMIT (a deferred constraint)."""

    __tablename__ = "fastapi_it_tickets"
    __table_args__ = (UniqueConstraint("code", deferrable=True, initially="DEFERRED"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(100))


def _routes(app: FastAPI) -> None:
    @app.post("/notes")
    async def add(text: str, session: TransactionDep) -> dict[str, str]:
        session.add(Note(text=text))
        await session.flush()
        if text.startswith("reject"):
            raise ConflictError("rejected after the insert")
        return {"text": text}

    @app.post("/tickets/{code}")
    async def add_twice(code: str, session: TransactionDep) -> dict[str, str]:
        session.add_all([Ticket(code=code), Ticket(code=code)])
        await session.flush()  # passes: the duplicate is only detected by COMMIT
        return {"code": code}

    @app.get("/tickets/{code}")
    async def tickets(code: str, session: SessionDep) -> dict[str, int]:
        total = await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.code == code))
        return {"count": int(total or 0)}

    @app.get("/notes/count")
    async def count(session: SessionDep, database: DatabaseDep, text: str = "") -> dict[str, int]:
        total = await session.scalar(select(func.count()).select_from(Note).where(Note.text == text))
        return {"count": int(total or 0), "checked_out": database.engine.pool.checkedout()}  # type: ignore[attr-defined]

    @app.get("/notes")
    async def page(
        session: SessionDep, params: Annotated[OffsetParams, Depends(notes_page)]
    ) -> OffsetPageResponse[str]:
        rows = await paginate_offset(session, Note, limit=params.limit, offset=params.offset)
        return offset_page_response(rows, lambda note: note.text)

    @app.put("/cache/{key}")
    async def put(key: str, value: str, cache: CacheDep) -> dict[str, str | None]:
        await cache.set_value(key, value, ttl=30)
        return {"value": await cache.get_value(key)}


def _app(database_url: str, cache_url: str, prefix: str, *, create_tables: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(RdbmsSettings(url=database_url), health_registry=HealthRegistry())
        cache = CacheClient(
            CacheSettings(
                url=cache_url,
                key_prefix=prefix,
                socket_connect_timeout=5,
                resilience={"retry": {"attempts": 1}},
            ),
            health_registry=HealthRegistry(),
        )
        async with database, cache:
            if create_tables:
                async with database.engine.begin() as connection:
                    await connection.run_sync(NoteBase.metadata.create_all)
            setup_database(app, database)
            setup_cache(app, cache)
            yield

    app = FastAPI(lifespan=lifespan)
    install(app, FastAPISettings(), health_registry=HealthRegistry())
    _routes(app)
    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str], postgres_url: str, redis_url: str, redis_key_prefix: str) -> str:
    """The working app (its lifespan creates the table)."""
    return serve_asgi(_app(postgres_url, redis_url, f"{redis_key_prefix}deps:", create_tables=True))


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        yield http


async def _rows_with(client: httpx.AsyncClient, text: str) -> dict[str, int]:
    response = await client.get("/notes/count", params={"text": text})
    assert response.status_code == 200
    body: dict[str, int] = response.json()
    return body


async def test_transaction_commits_when_the_route_returns(client: httpx.AsyncClient) -> None:
    """A route that returns normally commits its insert: the row is visible to the next request."""
    text = f"tx-ok-{uuid.uuid4().hex}"
    response = await client.post("/notes", params={"text": text})
    assert response.status_code == 200
    assert await _rows_with(client, text) == {"count": 1, "checked_out": 1}


async def test_transaction_rolls_back_when_the_route_raises(client: httpx.AsyncClient) -> None:
    """A route that raises after flushing its insert leaves no row: the exact rejected text is absent."""
    text = f"reject-{uuid.uuid4().hex}"
    response = await client.post("/notes", params={"text": text})
    assert (response.status_code, response.json()["code"]) == (409, "conflict")
    # The count query would see the row if the dependency had committed on error; only the
    # counting session itself is checked out, so the failed request's connection went back.
    assert await _rows_with(client, text) == {"count": 0, "checked_out": 1}


async def test_failed_commit_is_the_clients_error_response(client: httpx.AsyncClient) -> None:
    """A commit that fails (deferred unique violation) gives the client a 409, not the route's 200."""
    code = f"t-{uuid.uuid4().hex}"
    response = await client.post(f"/tickets/{code}")
    assert (response.status_code, response.json()["code"]) == (409, "conflict")
    assert (await client.get(f"/tickets/{code}")).json() == {"count": 0}


async def test_offset_page_response_from_rdbms(client: httpx.AsyncClient) -> None:
    """``offset_page_response`` converts an internal_rdbms page; next_offset follows the total."""
    for index in range(3):
        await client.post("/notes", params={"text": f"pg-{index}"})
    body = (await client.get("/notes", params={"limit": 2})).json()
    assert (body["limit"], body["offset"], len(body["items"]), body["next_offset"]) == (2, 0, 2, 2)
    assert body["total"] >= 3


async def test_cache_dependency_round_trip(client: httpx.AsyncClient) -> None:
    """The cache client stores and reads a JSON value under the app's prefix."""
    response = await client.put("/cache/greeting", params={"value": "hello"})
    assert response.json() == {"value": "hello"}


async def test_unavailable_backends_are_503(serve_asgi: Callable[..., str]) -> None:
    """Unreachable PostgreSQL and Redis map to 503 problems that name neither host nor password."""
    app = _app("postgresql://svc:hunter2@127.0.0.1:1/nowhere", "redis://:hunter2@127.0.0.1:1/0", "x:")
    async with httpx.AsyncClient(base_url=serve_asgi(app), timeout=20) as http:
        database = await http.get("/notes/count")
        cache = await http.put("/cache/k", params={"value": "v"})
    assert (database.status_code, database.json()["code"]) == (503, "database_unavailable")
    assert (cache.status_code, cache.json()["code"]) == (503, "cache_unavailable")
    assert "hunter2" not in database.text + cache.text
    assert "127.0.0.1" not in database.text + cache.text


async def test_missing_setup_is_a_generic_500(serve_asgi: Callable[..., str]) -> None:
    """Dependencies used without ``setup_*`` fail as 500 ``configuration_error`` without detail."""
    app = FastAPI()
    install(app, FastAPISettings(), health_registry=HealthRegistry())
    _routes(app)
    async with httpx.AsyncClient(base_url=serve_asgi(app), timeout=10) as http:
        database = await http.get("/notes/count")
        cache = await http.put("/cache/k", params={"value": "v"})
    assert [database.status_code, cache.status_code] == [500, 500]
    assert {database.json()["code"], cache.json()["code"]} == {"configuration_error"}
    assert "setup_" not in database.text + cache.text
