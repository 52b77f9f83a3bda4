"""Reconciliation: `python -m posts.reconcile [--every SECONDS]` (also `make reconcile`).

Counts are kept exact by events, so this should find nothing. It exists for
what events cannot cover: a restored backup, a hand-edited row, a bug. It walks
every post in pages, asks the votes service for the true count of each
(counted from its votes, at a new count epoch), and sets them. It reports how
many posts it fixed and logs each fix.
"""

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from posts import repository
from posts.settings import PostsSettings
from tally_shared.db import Database
from tally_shared.internal import VotesClient
from tally_shared.process import run_service_process
from tally_shared.web import ServiceUnavailableError

logger = logging.getLogger("posts.reconcile")
# Every post of a page is locked while the votes service recounts it.
PAGE_SIZE = 200


@dataclass
class Report:
    checked: int = 0
    fixed: int = 0


async def reconcile(database: Database, votes: VotesClient, *, page_size: int = PAGE_SIZE) -> Report:
    """Recounts every post, a page at a time.

    Each page's rows stay locked from before the recount until its counts are
    set, so no vote event reaches them in between: the votes service counts
    each post at a new count epoch, every vote event of an earlier epoch is in
    that count (and is skipped if it arrives later), and every later one is
    applied on top of it (docs/vote-counts.md).
    """
    report = Report()
    after_id = 0
    while True:
        async with database.transaction() as session:
            page = await repository.lock_count_page(session, after_id=after_id, size=page_size)
            if not page:
                return report
            post_ids = [row.id for row in page]
            recounted = {tally.post_id: (tally.votes, tally.count_epoch) for tally in await votes.tallies(post_ids)}
            # A post the votes service has never heard of has no votes, and no vote event on its way.
            truths = [(post_id, *recounted.get(post_id, (0, 0))) for post_id in post_ids]
            for post_id, old, new in await repository.reset_counts(session, truths):
                logger.warning("post %d: count %d drifted from the truth %d; fixed", post_id, old, new)
                report.fixed += 1
        report.checked += len(page)
        after_id = post_ids[-1]


def reconcile_until_stopped(every: float | None) -> Callable[[Database, asyncio.Event], Awaitable[None]]:
    """The reconciliation process's body: once, or every `every` seconds until stopped."""

    async def run(database: Database, stop: asyncio.Event) -> None:
        settings = PostsSettings()
        votes = VotesClient(settings.votes_url, settings, timeout=5)
        try:
            while not stop.is_set():
                try:
                    report = await reconcile(database, votes)
                except ServiceUnavailableError as error:
                    logger.error("%s; nothing more was reconciled", error)
                    if not every:
                        raise SystemExit(1) from error
                else:
                    print(f"reconciled: checked {report.checked} posts, fixed {report.fixed}", flush=True)
                if not every:
                    return
                try:
                    await asyncio.wait_for(stop.wait(), timeout=every)
                except TimeoutError:
                    pass
        finally:
            await votes.close()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m posts.reconcile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, metavar="SECONDS", help="run again every SECONDS, until stopped")
    args = parser.parse_args()
    # One connection: the pages are recounted one after another.
    run_service_process(PostsSettings(), "reconcile", reconcile_until_stopped(args.every), pool_size=1)


if __name__ == "__main__":
    main()
