"""Adversarial review over uvicorn + PostgreSQL: a client that left before the commit gets no write."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from sqlalchemy import text

from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install
from internal_fastapi.extensions.rdbms import SessionDep, TransactionDep, setup_database
from internal_rdbms import Database, RdbmsSettings

_TABLE = f"fastapi_review_tx_{uuid.uuid4().hex[:8]}"
_finished: dict[str, threading.Event] = {}


def _finished_marker(tag: str) -> Iterator[None]:
    # Declared before TransactionDep, so torn down after it: set once the commit/rollback ran.
    try:
        yield
    finally:
        _finished.setdefault(tag, threading.Event()).set()


def _build(database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Database(RdbmsSettings(url=database_url), health_registry=HealthRegistry()) as database:
            async with database.engine.begin() as connection:
                await connection.execute(text(f"CREATE TABLE {_TABLE} (tag text)"))
            setup_database(app, database)
            try:
                yield
            finally:
                async with database.engine.begin() as connection:
                    await connection.execute(text(f"DROP TABLE {_TABLE}"))

    app = FastAPI(lifespan=lifespan)
    install(app, FastAPISettings(), health_registry=HealthRegistry())

    @app.post("/slow/{tag}")
    async def slow(
        tag: str,
        request: Request,
        _: Annotated[None, Depends(_finished_marker, scope="function")],
        session: TransactionDep,
    ) -> dict[str, str]:
        await session.execute(text(f"INSERT INTO {_TABLE} VALUES (:tag)"), {"tag": tag})
        deadline = time.monotonic() + 30
        while not await request.is_disconnected() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the client gives up meanwhile
        return {"tag": tag}

    @app.get("/count/{tag}")
    async def count(tag: str, session: SessionDep) -> int:
        found = await session.scalar(text(f"SELECT count(*) FROM {_TABLE} WHERE tag = :tag"), {"tag": tag})
        return int(found or 0)

    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str], postgres_url: str) -> str:
    """One real uvicorn server with a PostgreSQL-backed app."""
    return serve_asgi(_build(postgres_url))


async def test_client_gone_before_commit_rolls_back(base_url: str) -> None:
    """A request whose client disconnected before the route returned commits nothing."""
    tag = uuid.uuid4().hex
    _finished[tag] = threading.Event()
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(30, read=1)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"/slow/{tag}")
    assert await asyncio.to_thread(_finished[tag].wait, 60)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        assert (await client.get(f"/count/{tag}")).json() == 0
