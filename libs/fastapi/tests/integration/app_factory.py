"""A realistic application for the integration tests: users in PostgreSQL, counters in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.health import HealthRegistry
from internal_cache import CacheClient, CacheSettings
from internal_fastapi import (
    ApiResponse,
    BearerAuth,
    CursorPageResponse,
    CursorParams,
    FastAPISettings,
    StaticTokenVerifier,
    install,
)
from internal_fastapi.extensions.cache import CacheDep, setup_cache
from internal_fastapi.extensions.rdbms import (
    SessionDep,
    TransactionDep,
    cursor_page_response,
    keyset_pagination,
    setup_database,
)
from internal_rdbms import Base, Database, IntPrimaryKeyMixin, RdbmsSettings, Repository, paginate_keyset

auth = BearerAuth(StaticTokenVerifier({"admin-token": "admin"}))
# Health details for the same token; anonymous probes still get the status.
ops = BearerAuth(StaticTokenVerifier({"admin-token": "admin"}), optional=True)
users_page = keyset_pagination(default_limit=2, max_limit=20)


class User(IntPrimaryKeyMixin, Base):
    """A user row."""

    __tablename__ = "fastapi_it_users"

    email: Mapped[str] = mapped_column(String(200), unique=True)


class UserIn(BaseModel):
    """Payload to create a user."""

    email: str


class UserOut(BaseModel):
    """A user as returned by the API."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str


def to_out(user: User) -> UserOut:
    """ORM row → response model."""
    return UserOut.model_validate(user)


def build_app(postgres_url: str, redis_url: str, key_prefix: str, registry: HealthRegistry) -> FastAPI:
    """The app: install(), a database and a cache created in the lifespan, a few routes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Generous check timeouts: readiness must say "healthy" on a busy machine too.
        database = Database(
            RdbmsSettings(url=postgres_url, health_check_timeout=30), health_registry=registry
        )
        cache = CacheClient(CacheSettings(url=redis_url, key_prefix=key_prefix), health_registry=registry)
        cache.register_health_check(registry, timeout=30)
        async with database, cache:
            await database.drop_all(Base.metadata)
            await database.create_all(Base.metadata)
            setup_database(app, database)
            setup_cache(app, cache)
            yield

    app = FastAPI(lifespan=lifespan)
    install(app, FastAPISettings(), health_registry=registry, health_details=ops)

    @app.post("/users", status_code=201)
    async def create_user(
        payload: UserIn, session: TransactionDep, _: Annotated[str, Depends(auth)]
    ) -> ApiResponse[UserOut]:
        user = await Repository(session, User).add(User(email=payload.email))
        return ApiResponse[UserOut].of(to_out(user))

    @app.get("/users/{user_id}")
    async def get_user(user_id: int, session: SessionDep) -> UserOut:
        return to_out(await Repository(session, User).get(user_id))

    @app.get("/users")
    async def list_users(
        session: SessionDep, page: Annotated[CursorParams, Depends(users_page)]
    ) -> CursorPageResponse[UserOut]:
        rows = await paginate_keyset(session, User, limit=page.limit, cursor=page.cursor)
        return cursor_page_response(rows, to_out)

    @app.post("/hits/{name}")
    async def hit(name: str, cache: CacheDep) -> dict[str, int]:
        return {"hits": await cache.incr(f"hits:{name}")}

    return app
