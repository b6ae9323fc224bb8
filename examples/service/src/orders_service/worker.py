"""The queue consumer: confirms placed orders (it runs in the API process, beside the routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from internal_aws import Message
from internal_base.logging import get_logger
from internal_cache import CacheClient
from internal_rdbms import Database, Repository
from orders_service.models import Order

__all__ = ["confirm_orders", "order_key"]

log = get_logger("orders_service.worker")


def order_key(order_id: int) -> str:
    """The cache key of one order."""
    return f"order:{order_id}"


def confirm_orders(db: Database, cache: CacheClient) -> Callable[[Message], Awaitable[None]]:
    """The handler of ``order-placed`` events; runs in the context (correlation ID) of the request."""

    async def handle(message: Message) -> None:
        event = message.json()
        if event.get("event") != "order-placed":
            log.warning("ignored event %r", event.get("event"))
            return
        async with db.transaction() as session:
            orders = Repository(session, Order)
            await orders.update(await orders.get(event["order_id"]), status="confirmed")
        await cache.delete(order_key(event["order_id"]))
        log.info("order %s confirmed", event["order_id"], extra={"order_id": event["order_id"]})

    return handle
