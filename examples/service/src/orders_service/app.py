"""The HTTP API: place an order (priced by another service, announced on a queue), read it back.

One lifespan opens every client, hands each to internal_fastapi (which maps its errors to problem+json
responses and its health check to /health/ready) and runs the queue consumer beside the API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from internal_aws import SqsClient, SqsConsumer
from internal_base.logging import get_logger
from internal_cache import CacheClient
from internal_fastapi import BadRequestError, NotFoundError, install
from internal_fastapi.extensions.aws import SqsDep, setup_sqs
from internal_fastapi.extensions.cache import CacheDep, setup_cache
from internal_fastapi.extensions.http import HttpClientDep, setup_http_client
from internal_fastapi.extensions.rdbms import SessionDep, TransactionDep, setup_database
from internal_http import create_client
from internal_rdbms import Base, Database, Repository
from orders_service.models import Order, OrderIn, OrderOut
from orders_service.settings import OrdersSettings
from orders_service.worker import confirm_orders, order_key

__all__ = ["create_app"]

log = get_logger("orders_service")


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    """The service's app; every client reads its own settings (``COMMONS_*`` / the YAML file)."""
    settings = settings or OrdersSettings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            db = await stack.enter_async_context(Database())
            cache = await stack.enter_async_context(CacheClient())
            http = await stack.enter_async_context(create_client())
            sqs = await stack.enter_async_context(SqsClient(queue_name=settings.queue_name))
            if settings.create_schema:
                await db.create_all(Base.metadata)
            await sqs.create_queue()
            setup_database(app, db)
            setup_cache(app, cache)
            setup_http_client(app, http)
            setup_sqs(app, sqs)
            await stack.enter_async_context(SqsConsumer(sqs, confirm_orders(db, cache), wait_time=1))
            yield

    app = FastAPI(title="orders", lifespan=lifespan)
    install(app)

    @app.get("/prices/{sku}")
    async def price(sku: str) -> dict[str, Any]:
        """The pricing service's one route (this app plays both roles in the example)."""
        if sku.startswith("discontinued-"):
            raise NotFoundError(f"no price for {sku}")
        return {"sku": sku, "unit_cents": 100 + sum(sku.encode()) % 900}

    @app.post("/orders", status_code=201)
    async def place_order(
        order: OrderIn, session: TransactionDep, cache: CacheDep, http: HttpClientDep, sqs: SqsDep
    ) -> OrderOut:
        """Price the order (cached, else asked upstream), store it, announce it on the queue."""

        async def ask_pricing() -> int:
            response = await http.get(f"/prices/{order.sku}")
            if response.status_code == httpx.codes.NOT_FOUND:
                raise BadRequestError(f"unknown sku {order.sku}")
            return int(response.raise_for_status().json()["unit_cents"])

        unit_cents = await cache.get_or_set(f"price:{order.sku}", ask_pricing, ttl=settings.price_ttl)
        row = await Repository(session, Order).add(
            Order(sku=order.sku, quantity=order.quantity, total_cents=unit_cents * order.quantity)
        )
        await session.commit()  # announce only what is stored (the outbox makes it atomic; see README)
        placed = OrderOut.model_validate(row)
        await sqs.send(json.dumps({"event": "order-placed", "order_id": placed.id}))
        log.info("order %s placed", placed.id, extra={"order_id": placed.id})
        return placed

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int, session: SessionDep, cache: CacheDep) -> OrderOut:
        """An order, from the cache when it was read in the last ``order_ttl`` seconds."""

        async def load() -> dict[str, Any]:
            row = await Repository(session, Order).get_or_none(order_id)
            if row is None:
                raise NotFoundError(f"no order {order_id}")
            return OrderOut.model_validate(row).model_dump()

        return OrderOut.model_validate(
            await cache.get_or_set(order_key(order_id), load, ttl=settings.order_ttl)
        )

    return app
