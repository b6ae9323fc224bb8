"""Transactional outbox: record events in the writer's transaction, relay them after commit.

Example::

    from internal_rdbms.outbox import Outbox, OutboxRelay

    outbox = Outbox(Base.metadata)
    async with db.transaction() as session:
        session.add(order)
        await outbox.record(session, "orders.created", {"id": str(order.id)})
    relay = OutboxRelay(db, outbox, publisher)  # publisher: async publish(events) -> ids
    await relay.run_once()
"""

from __future__ import annotations

from internal_rdbms._outbox import Outbox, OutboxEvent, OutboxPublisher, OutboxRelay

__all__ = ["Outbox", "OutboxEvent", "OutboxPublisher", "OutboxRelay"]
