"""Reconciliation: `python -m posts.reconcile [--every SECONDS]` (also `make reconcile`).

Counts are kept exact by events, so this should find nothing. It exists for
what events cannot cover: a restored backup, a hand-edited row, a bug. It walks
every post in pages, asks the votes service for the true count of each
(counted from its votes, at a version), and sets the counts that differ,
unless a later vote event was applied meanwhile. It reports how many posts it
fixed and logs each fix.
"""

import argparse
import logging
import time
from dataclasses import dataclass

from posts import repository
from posts.settings import PostsSettings
from tally_shared.database import Database
from tally_shared.internal_client import InternalClient, ServiceUnavailableError
from tally_shared.observability import configure_logging

logger = logging.getLogger("posts.reconcile")
PAGE_SIZE = 1000


@dataclass
class Report:
    checked: int = 0
    fixed: int = 0


def reconcile(database: Database, votes: InternalClient, *, page_size: int = PAGE_SIZE) -> Report:
    report = Report()
    after_id = 0
    while True:
        with database.transaction() as session:
            page = repository.count_page(session, after_id=after_id, size=page_size)
        if not page:
            return report
        post_ids = [row.id for row in page]
        response = votes.request("POST", "/internal/tallies", json={"post_ids": post_ids})
        response.raise_for_status()
        truth = {t["post_id"]: (t["votes"], t["votes_version"]) for t in response.json()["tallies"]}
        # A post the votes service has never heard of has no votes.
        truths = [(post_id, *truth.get(post_id, (0, 0))) for post_id in post_ids]
        with database.transaction() as session:
            for post_id, old, new in repository.repair_counts(session, truths):
                logger.warning("post %d: count %d drifted from the truth %d; fixed", post_id, old, new)
                report.fixed += 1
        report.checked += len(page)
        after_id = post_ids[-1]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m posts.reconcile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, metavar="SECONDS", help="run again every SECONDS, until stopped")
    args = parser.parse_args()
    settings = PostsSettings()
    configure_logging("posts-reconcile", settings.log_level)
    database = Database(settings.database_url.get_secret_value(), application_name="posts-reconcile", pool_size=1)
    votes = InternalClient(settings.votes_url, settings, timeout=30)
    try:
        while True:
            try:
                report = reconcile(database, votes)
            except ServiceUnavailableError as error:
                logger.error("the votes service is unavailable (%s); nothing was reconciled", error)
                if not args.every:
                    raise SystemExit(1) from error
            else:
                print(f"reconciled: checked {report.checked} posts, fixed {report.fixed}", flush=True)
            if not args.every:
                return
            time.sleep(args.every)
    finally:
        votes.close()
        database.dispose()


if __name__ == "__main__":
    main()
