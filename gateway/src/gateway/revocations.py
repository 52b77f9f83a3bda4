"""The users whose tokens the gateway refuses although they have not expired: those
who deleted their account.

The worker writes them to `gateway.revoked_users` from `user.deleted` events.
Each gateway replica holds the whole list in memory, so checking a token is a set
lookup, and every `refresh_seconds` reads only the rows written since its last
read (`seq > last_seen`, on the unique index of `seq`). When the database is unreachable, the gateway goes on
with the list it has, warns once per outage, and `/readyz` says the list is stale.

`seq` is taken when a row is inserted, not when it is committed: a transaction
can commit `seq` 7 after another one committed 8 and a read already saw 8. So a
`seq` skipped below the highest one read is read again, by number, until it shows
up or `GAP_RECHECK_SECONDS` have passed (a rolled-back insert, or one that found
the user already revoked, leaves a `seq` that never shows up).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

from sqlalchemy import or_, select

from gateway.models import revoked_users
from tally_shared.db import Database

logger = logging.getLogger(__name__)

# How long a skipped `seq` may still show up: far longer than the worker's transactions.
GAP_RECHECK_SECONDS = 600.0
# The skipped `seq`s re-read at most (the highest, which are the likeliest to be in flight).
MAX_GAPS = 1000
# The list is stale, and the gateway not ready, once no refresh has succeeded for
# this many refresh intervals (10 s with the default 0.5 s).
STALE_INTERVALS = 20


class RevocationList:
    def __init__(
        self, database: Database, *, refresh_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._database = database
        self._refresh_seconds = refresh_seconds
        self._stale_after = STALE_INTERVALS * refresh_seconds
        self._clock = clock
        self._revoked: set[int] = set()
        self._last_seen = 0
        self._gaps: dict[int, float] = {}  # a skipped seq -> when it was first skipped
        self._refreshed_at: float | None = None
        self._unreachable = False

    @property
    def loaded(self) -> bool:
        """Whether the list was ever read: until then, nobody's token can be checked."""
        return self._refreshed_at is not None

    @property
    def rechecked_seqs(self) -> list[int]:
        """The skipped `seq`s still read again on every refresh."""
        return sorted(self._gaps)

    def is_revoked(self, user_id: int) -> bool:
        return user_id in self._revoked

    def is_fresh(self) -> bool:
        """Whether a refresh succeeded recently enough for the list to be trusted."""
        return self._refreshed_at is not None and self._clock() - self._refreshed_at <= self._stale_after

    async def refresh(self) -> bool:
        """Read what is new; False (and the list unchanged) if the database could not be read."""
        try:
            rows = await self._read(self._last_seen, sorted(self._gaps))
        except Exception as error:
            if not self._unreachable:
                self._unreachable = True
                logger.warning(
                    "cannot read the revoked users; going on with the %d known: %s",
                    len(self._revoked),
                    str(error).splitlines()[0] if str(error) else repr(error),
                )
            return False
        if self._unreachable:
            self._unreachable = False
            logger.info("the revoked users can be read again")
        self._apply(rows)
        return True

    async def run(self) -> None:
        """Refresh every `refresh_seconds`, until cancelled."""
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.refresh()
            except Exception:
                logger.exception("refreshing the revoked users failed")

    async def _read(self, after: int, gaps: Sequence[int]) -> list[tuple[int, int]]:
        seq = revoked_users.c.seq
        query = select(revoked_users.c.user_id, seq).where(or_(seq > after, seq.in_(gaps)) if gaps else seq > after)
        async with self._database.transaction() as session:
            return [(user_id, row_seq) for user_id, row_seq in await session.execute(query)]

    def _apply(self, rows: list[tuple[int, int]]) -> None:
        now = self._clock()
        read = {row_seq for _, row_seq in rows}
        newly_revoked = {user_id for user_id, _ in rows} - self._revoked
        self._revoked.update(newly_revoked)
        highest = max(read, default=self._last_seen)
        for skipped in range(max(self._last_seen + 1, highest - MAX_GAPS), highest):
            if skipped not in read:
                self._gaps.setdefault(skipped, now)
        self._gaps = {
            gap: since for gap, since in self._gaps.items() if gap not in read and now - since < GAP_RECHECK_SECONDS
        }
        if len(self._gaps) > MAX_GAPS:
            self._gaps = dict(sorted(self._gaps.items())[-MAX_GAPS:])
        self._last_seen = max(self._last_seen, highest)
        self._refreshed_at = now
        if newly_revoked:
            logger.info("%d user(s) revoked, %d in all", len(newly_revoked), len(self._revoked))


@contextlib.asynccontextmanager
async def kept_fresh(revocations: RevocationList) -> AsyncIterator[RevocationList]:
    """Refreshes `revocations` in the background for as long as the block runs."""
    task = asyncio.create_task(revocations.run(), name="revocations-refresh")
    try:
        yield revocations
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
