"""Read replicas: lag and liveness probes, and the choice of a replica for a read-only unit of work.

Each replica has its own request engine and a one-connection probe engine (so probes never wait
behind requests). A replica is probed at most once per ``replica_check_interval``, by the first
read-only unit of work that finds its last probe stale (the others use the last result meanwhile):

- PostgreSQL: a standby that is streaming and has replayed everything it received lags 0 s;
  otherwise the lag is the age of ``pg_last_xact_replay_timestamp()`` (unknown: too far behind).
  A server that is not in recovery (a promoted or plain server) counts as in sync. Whether the
  standby is streaming comes from ``pg_stat_wal_receiver`` for roles that may read it
  (``pg_read_all_stats``); for others, a standby that has streamed since it started counts as
  streaming, so one cut off from its primary after replaying all it received looks in sync.
- MySQL/MariaDB: ``Seconds_Behind_Master`` (``SHOW REPLICA STATUS``, else ``SHOW SLAVE STATUS``);
  ``NULL`` (replication stopped) is too far behind; a server that is no replica counts as in sync.
- SQLite: no replication; a replica is another database file, never behind.

A replica that cannot be reached, fails its probe, or lags more than ``replica_max_lag`` seconds
is skipped until its next probe; reads then go to another replica or to the primary.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from internal_base.redaction import redact_text
from internal_rdbms._errors import translate_error

__all__ = ["Replica", "ReplicaState", "choose_replica", "probe_replica"]

_log = logging.getLogger("internal_rdbms")

_PG_LAG: Final = text(
    "SELECT pg_is_in_recovery(), "
    # pg_stat_wal_receiver shows its status to pg_read_all_stats members (and superusers) only;
    # for other roles, a standby that has received WAL by streaming since it started counts as streaming.
    "CASE WHEN pg_has_role('pg_read_all_stats', 'USAGE') "
    "THEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') "
    "ELSE pg_last_wal_receive_lsn() IS NOT NULL END, "
    "pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), "
    "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
)
_MYSQL_STATUS: Final = ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS")
_MYSQL_LAG_COLUMNS: Final = ("Seconds_Behind_Master", "Seconds_Behind_Source")


class ReplicaState:
    """String constants of :attr:`Replica.state`."""

    UNKNOWN: Final = "unknown"  # not probed yet
    OK: Final = "ok"
    LAGGING: Final = "lagging"
    DOWN: Final = "down"


@dataclass
class Replica:
    """One read replica: its engines and the result of its last probe.

    Attributes:
        index: Position in ``replica_urls``.
        redacted_url: The URL with its password masked.
        engine: The request engine (pool as the primary's).
        probe_engine: A one-connection engine for probes and health checks.
        state: ``unknown``, ``ok``, ``lagging`` or ``down`` (see :class:`ReplicaState`).
        lag: Seconds behind the primary at the last probe (``inf`` when unknown), ``None`` if never probed.
        error: Why the last probe failed, redacted.
        checked_at: ``time.monotonic()`` of the last probe (``None``: never).
    """

    index: int
    redacted_url: str
    engine: AsyncEngine
    probe_engine: AsyncEngine
    state: str = ReplicaState.UNKNOWN
    lag: float | None = None
    error: str | None = None
    checked_at: float | None = None
    probing: bool = field(default=False, repr=False)

    def mark_down(self, error: BaseException | str) -> None:
        """Record that the replica failed; it is skipped until its next probe."""
        if self.state != ReplicaState.DOWN:
            _log.warning("read replica %s is down; reads go elsewhere: %s", self.redacted_url, error)
        self.state = ReplicaState.DOWN
        self.error = redact_text(str(error))[:500]
        self.checked_at = time.monotonic()

    def details(self) -> dict[str, object]:
        """What the health check shows for this replica."""
        lag = None if self.lag is None or math.isinf(self.lag) else round(self.lag, 3)
        return {"url": self.redacted_url, "state": self.state, "lag_seconds": lag, "error": self.error}


async def _lag(connection: AsyncConnection) -> float:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        row = (await connection.execute(_PG_LAG)).one()
        in_recovery, streaming, caught_up, replay_age = row[0], row[1], row[2], row[3]
        if not in_recovery or (streaming and caught_up):
            return 0.0
        return math.inf if replay_age is None else max(0.0, float(replay_age))  # Decimal seconds
    if dialect in ("mysql", "mariadb"):
        return await _mysql_lag(connection)
    await connection.execute(text("SELECT 1"))
    return 0.0


async def _mysql_lag(connection: AsyncConnection) -> float:
    error: Exception | None = None
    for statement in _MYSQL_STATUS:
        try:
            row = (await connection.exec_driver_sql(statement)).mappings().first()
        except Exception as exc:  # older servers know only SHOW SLAVE STATUS
            error = exc
            await connection.rollback()
            continue
        if row is None:
            return 0.0  # not a replica: nothing to lag behind
        for column in _MYSQL_LAG_COLUMNS:
            if column in row:
                value: Any = row[column]
                return math.inf if value is None else float(value)
        return math.inf
    assert error is not None
    raise error


async def probe_replica(replica: Replica, *, max_lag: float, timeout: float) -> None:
    """Measure ``replica``'s lag on its probe connection and update its state (never raises)."""
    replica.probing = True
    try:
        async with asyncio.timeout(timeout), replica.probe_engine.connect() as connection:
            lag = await _lag(connection)
    except Exception as exc:  # any failure makes the replica unusable until the next probe
        if isinstance(exc, TimeoutError) and not str(exc):
            exc = TimeoutError(f"probe took longer than {timeout:g} s")
        replica.lag = None
        replica.mark_down(translate_error(exc) if not isinstance(exc, TimeoutError) else exc)
        return
    finally:
        replica.probing = False
    previous = replica.state
    replica.lag, replica.error, replica.checked_at = lag, None, time.monotonic()
    replica.state = ReplicaState.OK if lag <= max_lag else ReplicaState.LAGGING
    if replica.state != previous and previous != ReplicaState.UNKNOWN:
        _log.info("read replica %s is now %s (lag %.3g s)", replica.redacted_url, replica.state, lag)


async def choose_replica(
    replicas: list[Replica], start: int, *, max_lag: float, interval: float, timeout: float
) -> Replica | None:
    """The first usable replica from ``start`` round-robin, probing stale ones; ``None``: use the primary."""
    count = len(replicas)
    now = time.monotonic()
    for offset in range(count):
        replica = replicas[(start + offset) % count]
        stale = replica.checked_at is None or now - replica.checked_at >= interval
        if stale and not replica.probing:
            await probe_replica(replica, max_lag=max_lag, timeout=timeout)
        if replica.state == ReplicaState.OK:
            return replica
    return None
