"""The small service the load run drives: internal_fastapi + internal_rdbms on PostgreSQL.

``GET /work`` holds a pooled connection for ``COMMONS_LOAD_QUERY_SECONDS`` (``pg_sleep``), so the
pool, not the CPU, is what runs out; ``/health/ready`` is the readiness probe a load balancer calls.
Served by ``python -m uvicorn commons_bench._load_app:app``; settings come from ``COMMONS_RDBMS_*``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from internal_fastapi import install
from internal_fastapi.extensions.rdbms import SessionDep, setup_database
from internal_rdbms import Database

__all__ = ["app"]

_QUERY_SECONDS = float(os.environ.get("COMMONS_LOAD_QUERY_SECONDS", "0.02"))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with Database() as db:
        setup_database(app, db)
        yield


app = FastAPI(lifespan=_lifespan)
install(app)


@app.get("/work")
async def work(session: SessionDep) -> dict[str, bool]:
    """One query that keeps its connection for a fixed time."""
    await session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": _QUERY_SECONDS})
    return {"ok": True}
