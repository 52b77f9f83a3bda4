"""Deleting rows whose time is up (stored idempotent answers, counted login failures).

Each such table has an indexed `expires_at`; the purge deletes a small batch at a
time through that index, each batch its own short transaction, so it never scans
the table, never holds many locks, and never runs on a request's path. The
service's relay process runs it (`run_relay(..., expiring=...)`); several relays
side by side skip each other's rows (FOR UPDATE SKIP LOCKED).
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnClause, Table, delete, func, literal_column, select

from tally_shared.db.database import Database, is_transient

logger = logging.getLogger(__name__)

PURGE_BATCH_SIZE = 1_000
PURGE_INTERVAL_SECONDS = 60.0


async def purge_expired(database: Database, table: Table, *, batch_size: int = PURGE_BATCH_SIZE) -> int:
    """Deletes every row of `table` whose `expires_at` has passed, `batch_size` rows per transaction."""
    row_id: ColumnClause[Any] = literal_column("ctid")
    purged = 0
    while True:
        expired = (
            select(row_id)
            .select_from(table)
            .where(table.c.expires_at <= func.now())
            .order_by(table.c.expires_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        async with database.transaction() as session:
            deleted = len((await session.execute(delete(table).where(row_id.in_(expired)).returning(row_id))).all())
        purged += deleted
        if deleted < batch_size:
            return purged


async def keep_purging(
    database: Database,
    tables: Sequence[Table],
    stop: asyncio.Event,
    *,
    interval_seconds: float = PURGE_INTERVAL_SECONDS,
) -> None:
    """`purge_expired` on every table, every `interval_seconds`, until `stop` is set; an
    unavailable database only postpones the next round."""
    while not stop.is_set():
        for table in tables:
            try:
                purged = await purge_expired(database, table)
            except Exception as error:
                if not is_transient(error):
                    raise
                logger.warning("purge of %s postponed: %r", table.fullname, error)
                break
            if purged:
                logger.info("purged %d expired rows of %s", purged, table.fullname)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
        except TimeoutError:
            pass
