"""Transactional outbox: events recorded in the writer's transaction, relayed after commit."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from internal_base.context import inject_context
from internal_rdbms._base import UTCDateTime, utcnow
from internal_rdbms._errors import InvalidQueryError, RdbmsError, translating_errors
from internal_rdbms._session import Database

__all__ = ["Outbox", "OutboxEvent", "OutboxPublisher", "OutboxRelay"]

_log = logging.getLogger("internal_rdbms.outbox")

MAX_TOPIC_LENGTH: Final = 255
_MAX_ERROR_LENGTH: Final = 500
# A new event is due at once whatever the writer's and the relay's clocks say (a writer whose clock runs
# ahead would otherwise delay its events by the skew); relays order due events by creation time after it.
_DUE_AT: Final = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OutboxEvent:
    """One recorded event, as a relay hands it to an :class:`OutboxPublisher`.

    Attributes:
        id: Stable deduplication id (uuid4 hex), fixed when the event is recorded; every
            (re)publication of the event carries it.
        topic: Destination chosen by the writer (a publisher maps it to a queue).
        payload: JSON-serialisable body.
        headers: Correlation id, request id and W3C ``traceparent``/``tracestate`` captured when
            the event was recorded, plus the writer's own headers.
        created_at: When it was recorded (aware UTC).
    """

    id: str
    topic: str
    payload: dict[str, Any]
    headers: dict[str, str]
    created_at: datetime


@runtime_checkable
class OutboxPublisher(Protocol):
    """Publishes relayed events (``internal_aws.sqs.SqsOutboxPublisher`` is one)."""

    async def publish(self, events: Sequence[OutboxEvent]) -> Sequence[str]:
        """Publish events; return the ids that were published (the relay marks only those sent)."""
        ...  # pragma: no cover - protocol


class Outbox:
    """The outbox table and the call that records events in a caller's transaction.

    The table joins ``metadata`` (use your models' ``Base.metadata`` so ``create_all`` and Alembic
    autogenerate include it). :meth:`record` inserts in the caller's session: the event exists
    exactly when the caller's transaction commits, and a rollback leaves nothing to publish.

    Args:
        metadata: The metadata the table belongs to.
        table_name: Name of the table (default ``outbox_events``).

    Example:
        >>> outbox = Outbox(Base.metadata)                           # doctest: +SKIP
        >>> async with db.transaction() as session:                  # doctest: +SKIP
        ...     session.add(order)
        ...     await outbox.record(session, "orders.created", {"id": order.id})
    """

    def __init__(self, metadata: MetaData, table_name: str = "outbox_events") -> None:
        existing = metadata.tables.get(table_name)
        if existing is not None:
            if not {"id", "topic", "payload", "headers", "sent_at", "next_attempt_at"} <= set(
                existing.c.keys()
            ):
                raise ValueError(f"table {table_name!r} of this metadata is not an outbox table")
            self.table = existing
            return
        self.table = Table(
            table_name,
            metadata,
            Column("id", String(32), primary_key=True),
            Column("topic", String(MAX_TOPIC_LENGTH), nullable=False),
            Column("payload", JSON, nullable=False),
            Column("headers", JSON, nullable=False),
            Column("created_at", UTCDateTime(), nullable=False),
            Column("next_attempt_at", UTCDateTime(), nullable=False),
            Column("attempts", Integer, nullable=False, default=0),
            Column("sent_at", UTCDateTime(), nullable=True),
            Column("last_error", String(_MAX_ERROR_LENGTH), nullable=True),
            # Serves the claim's filter and its ORDER BY, so MariaDB locks only the rows it claims.
            Index(f"ix_{table_name}_pending", "sent_at", "next_attempt_at", "created_at"),
        )

    def __repr__(self) -> str:
        """``Outbox(table='outbox_events')``."""
        return f"Outbox(table={self.table.name!r})"

    async def record(
        self,
        session: AsyncSession,
        topic: str,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> OutboxEvent:
        """Record an event in ``session``'s transaction (published by a relay after commit).

        The current correlation id, request id and trace context are captured into the headers
        (``internal_base.context.inject_context``); explicit ``headers`` are added to them.

        Raises:
            InvalidQueryError: Empty or over-long topic, payload not a JSON object, headers not str.
        """
        if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH:
            raise InvalidQueryError(
                f"outbox topic must be a non-empty string of at most {MAX_TOPIC_LENGTH} characters"
            )
        if not isinstance(payload, Mapping):
            raise InvalidQueryError(
                f"outbox payload must be a mapping (a JSON object), not {type(payload).__name__}"
            )
        body = dict(payload)
        try:
            json.dumps(body, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidQueryError(f"outbox payload is not JSON-serialisable: {exc}") from None
        carried: dict[str, str] = {}
        inject_context(carried)
        for name, value in (headers or {}).items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise InvalidQueryError("outbox headers must map str to str")
            carried[name] = value
        now = utcnow()
        event = OutboxEvent(id=uuid.uuid4().hex, topic=topic, payload=body, headers=carried, created_at=now)
        with translating_errors():
            await session.execute(
                insert(self.table).values(
                    id=event.id,
                    topic=topic,
                    payload=body,
                    headers=carried,
                    created_at=now,
                    next_attempt_at=_DUE_AT,
                    attempts=0,
                )
            )
        return event

    async def pending(self, session: AsyncSession) -> int:
        """Number of events not yet marked sent."""
        with translating_errors():
            result = await session.execute(
                select(func.count()).select_from(self.table).where(self.table.c.sent_at.is_(None))
            )
        return int(result.scalar_one())

    async def purge_sent(self, session: AsyncSession, *, older_than: timedelta) -> int:
        """Delete events marked sent more than ``older_than`` ago; returns how many."""
        cutoff = utcnow() - older_than
        with translating_errors():
            result = await session.execute(
                delete(self.table).where(self.table.c.sent_at.is_not(None), self.table.c.sent_at < cutoff)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass
class _Backoff:
    initial: float
    maximum: float

    def delay(self, attempts: int) -> float:
        return float(min(self.maximum, self.initial * 2 ** max(attempts - 1, 0)))


@dataclass
class OutboxRelay:
    """Publishes pending outbox events at least once and marks them sent.

    Each :meth:`run_once` claims up to ``batch_size`` due events in one transaction — with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB, so several relays share the
    work without publishing an event twice; on SQLite the claim takes the database's single write
    lock first, so relays take turns — hands them to the publisher, marks the ids it returns as
    sent and commits. An event the publisher did not return (unknown topic, rejected) or a
    publisher error/timeout counts as a failed attempt: the event is retried after an exponential
    backoff (``retry_backoff`` doubling up to ``max_backoff`` seconds), behind the events that are
    due, so one failing topic never blocks the others. A relay stopped (cancelled, crashed,
    connection lost) after publishing but before its commit leaves the events pending: they are
    published again with the same id, so consumers deduplicate on :attr:`OutboxEvent.id`.

    Args:
        database: The database holding the outbox table.
        outbox: The :class:`Outbox`.
        publisher: Any object with ``async publish(events) -> ids``.
        batch_size: Events claimed per :meth:`run_once` (1..10,000).
        poll_interval: Seconds :meth:`run` waits when nothing (or less than a batch) was due.
        retry_backoff: Seconds before the first retry of a failed event.
        max_backoff: Longest wait between retries of one event.
        publish_timeout: Seconds a ``publish`` call may take before it counts as failed.
    """

    database: Database
    outbox: Outbox
    publisher: OutboxPublisher
    batch_size: int = 100
    poll_interval: float = 1.0
    retry_backoff: float = 1.0
    max_backoff: float = 300.0
    publish_timeout: float = 30.0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate the numbers."""
        if (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or not 1 <= self.batch_size <= 10_000
        ):
            raise ValueError("OutboxRelay batch_size must be an integer between 1 and 10000")
        for name in ("poll_interval", "retry_backoff", "max_backoff", "publish_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"OutboxRelay {name} must be a positive number of seconds")
        if not callable(getattr(self.publisher, "publish", None)):
            raise TypeError("OutboxRelay publisher needs an async publish(events) method")

    async def run_once(self) -> int:
        """Claim, publish and mark one batch of due events; returns how many were published.

        Raises:
            RdbmsError: The database failed (the batch stays pending; published events will be
                published again).
        """
        backend = self.database.backend
        with translating_errors():
            async with self.database.session() as session:
                if backend == "mysql":
                    # READ COMMITTED: no gap locks, so marking rows sent never waits on another relay's claim.
                    await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
                published = await self._batch(session, backend)
                await session.commit()  # leaving the block without it (error, cancel) rolls back
        return published

    async def _batch(self, session: AsyncSession, backend: str) -> int:
        table = self.outbox.table
        now = utcnow()
        if backend == "sqlite":
            # Take SQLite's write lock before reading, so concurrent relays serialise here.
            await session.execute(update(table).where(table.c.id == "").values(attempts=table.c.attempts))
        claim = (
            select(table)
            .where(table.c.sent_at.is_(None), table.c.next_attempt_at <= now)
            .order_by(table.c.next_attempt_at, table.c.created_at, table.c.id)
            .limit(self.batch_size)
        )
        if backend != "sqlite":
            claim = claim.with_for_update(skip_locked=True)
        rows = (await session.execute(claim)).mappings().all()
        if not rows:
            return 0
        events = [
            OutboxEvent(
                id=row["id"],
                topic=row["topic"],
                payload=dict(row["payload"]),
                headers={str(k): str(v) for k, v in dict(row["headers"]).items()},
                created_at=row["created_at"],
            )
            for row in rows
        ]
        attempts = {row["id"]: int(row["attempts"]) for row in rows}
        published, error = await self._publish(events)
        sent = [event.id for event in events if event.id in published]
        failed = [event.id for event in events if event.id not in published]
        if sent:
            await session.execute(update(table).where(table.c.id.in_(sent)).values(sent_at=utcnow()))
        if failed:
            await self._reschedule(session, failed, attempts, error or "not published by the publisher")
        return len(sent)

    async def _publish(self, events: list[OutboxEvent]) -> tuple[set[str], str | None]:
        try:
            async with asyncio.timeout(self.publish_timeout):
                returned = await self.publisher.publish(events)
        except TimeoutError:
            _log.warning(
                "outbox publisher timed out after %ss on %d events", self.publish_timeout, len(events)
            )
            return set(), f"publish timed out after {self.publish_timeout}s"
        except Exception as exc:  # - any publisher failure is a failed attempt
            _log.warning("outbox publisher failed on %d events: %s", len(events), type(exc).__name__)
            return set(), f"{type(exc).__name__}: {exc}"
        if isinstance(returned, str | bytes) or not isinstance(returned, Iterable):
            _log.warning("outbox publisher returned a %s, not a sequence of ids", type(returned).__name__)
            return set(), f"publisher returned a {type(returned).__name__}, not a sequence of event ids"
        claimed = {event.id for event in events}
        return {str(ident) for ident in returned if str(ident) in claimed}, None

    async def _reschedule(
        self, session: AsyncSession, ids: list[str], attempts: dict[str, int], error: str
    ) -> None:
        table = self.outbox.table
        backoff = _Backoff(self.retry_backoff, self.max_backoff)
        now = utcnow()
        by_delay: dict[int, list[str]] = {}
        for ident in ids:
            by_delay.setdefault(attempts[ident] + 1, []).append(ident)
        for count, group in by_delay.items():
            await session.execute(
                update(table)
                .where(table.c.id.in_(group))
                .values(
                    attempts=count,
                    next_attempt_at=now + timedelta(seconds=backoff.delay(count)),
                    last_error=error[:_MAX_ERROR_LENGTH],
                )
            )

    async def run(self) -> None:
        """Relay until :meth:`stop`: a full batch runs the next at once, otherwise waits ``poll_interval``.

        Database errors are logged and retried after ``poll_interval``; :meth:`stop` lets the
        batch in progress finish (its events are marked) and returns.
        """
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                published = await self.run_once()
            except RdbmsError as exc:
                _log.warning("outbox relay batch failed: %s", exc)
                published = 0
            if published >= self.batch_size:
                continue
            try:
                async with asyncio.timeout(self.poll_interval):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    def stop(self) -> None:
        """Ask :meth:`run` to return after the batch in progress."""
        self._stopping.set()
