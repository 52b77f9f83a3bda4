"""Vote counts stay exact, end to end: many voters at once, a worker killed mid-stream, the broker
unreachable, every event delivered twice, two workers at once, and reconciliation of hand-made drift.

The truth for each post is the number of votes that exist at the end, known from the API's answers
(see `faults.Ledger`) and checked against the votes service's own rows; every test ends with each
post's count, as the posts service shows it, equal to that truth within a bounded wait."""

import asyncio
import random
import re
import signal
import subprocess
import sys
import time

import aio_pika
import httpx
import pytest
from conftest import ROOT
from faults import CuttableProxy, Ledger, Vote, VotingRun, cast, new_accounts, random_votes, vote_all_at_once
from sqlalchemy import text

from tally_shared.events import Topology
from tally_testing import AMQP_URL

CONVERGENCE_SECONDS = 30
POLL_SECONDS = 0.1


@pytest.fixture(scope="module")
def posts_database(stack):
    engine = stack.database("posts")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def votes_database(stack):
    engine = stack.database("votes")
    yield engine
    engine.dispose()


@pytest.fixture
def rng() -> random.Random:
    seed = random.randrange(2**32)
    print(f"random seed {seed}")  # shown with a failure, to replay the same votes
    return random.Random(seed)


def new_posts(gateway: httpx.Client, author, count: int) -> list[int]:
    post_ids = []
    for number in range(count):
        response = gateway.post(
            "/posts", json={"title": f"counted {number}", "content": "vote"}, headers=author.headers
        )
        assert response.status_code == 201, response.text
        post_ids.append(response.json()["id"])
    return post_ids


def shown_counts(posts_database, post_ids) -> dict[int, int]:
    """Each post's count as the posts service stores it (and shows it)."""
    with posts_database.connect() as connection:
        rows = connection.execute(text("SELECT id, votes FROM posts.posts WHERE id = ANY(:ids)"), {"ids": post_ids})
        return dict(rows.all())


def existing_votes(votes_database, post_ids) -> dict[int, int]:
    """Each post's number of votes as rows in the votes service."""
    with votes_database.connect() as connection:
        rows = connection.execute(
            text("SELECT post_id, count(*) FROM votes.votes WHERE post_id = ANY(:ids) GROUP BY post_id"),
            {"ids": post_ids},
        )
        return {post_id: 0 for post_id in post_ids} | dict(rows.all())


def applied_vote_events(posts_database) -> int:
    """How many vote events the posts service has applied (its inbox keeps their ids)."""
    with posts_database.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM posts.inbox WHERE event_type LIKE 'vote.%'")).scalar_one()


def pending_events(votes_database, post_ids) -> int:
    """The votes service's events about these posts that its relay has not published yet."""
    with votes_database.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM votes.outbox WHERE published_at IS NULL"
                " AND (envelope -> 'data' ->> 'post_id')::bigint = ANY(:ids)"
            ),
            {"ids": post_ids},
        ).scalar_one()


def unapplied_vote_events(posts_database, votes_database, post_ids) -> int:
    """The votes service's events about these posts that the posts service has not applied yet."""
    with votes_database.connect() as connection:
        recorded = connection.execute(
            text("SELECT event_id FROM votes.outbox WHERE (envelope -> 'data' ->> 'post_id')::bigint = ANY(:ids)"),
            {"ids": post_ids},
        ).scalars()
        event_ids = list(recorded)
    with posts_database.connect() as connection:
        applied = connection.execute(
            text("SELECT count(*) FROM posts.inbox WHERE event_id = ANY(:ids)"), {"ids": event_ids}
        ).scalar_one()
    return len(event_ids) - applied


def eventually(condition, timeout: float = CONVERGENCE_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def assert_exact_counts(gateway, viewer, posts_database, votes_database, ledger: Ledger) -> None:
    """Every post's count equals the truth, within a bounded wait."""
    assert ledger.unexpected == [], "answers that were neither a change nor a clean refusal"
    truth = ledger.counts()
    post_ids = sorted(truth)
    assert existing_votes(votes_database, post_ids) == truth, "the votes service's rows disagree with its answers"
    # Settled: every event applied, not just a count passing through the right value on its way
    # (+1, +1, -1 is 2 after the second event too).
    if not eventually(lambda: unapplied_vote_events(posts_database, votes_database, post_ids) == 0):
        assert unapplied_vote_events(posts_database, votes_database, post_ids) == 0, "events still unapplied"
    assert shown_counts(posts_database, post_ids) == truth
    for post_id in post_ids:
        response = gateway.get(f"/posts/{post_id}", headers=viewer.headers)
        assert response.status_code == 200, response.text
        assert response.json()["votes"] == truth[post_id], f"post {post_id} through the gateway"


def queue_consumers(stack, service: str) -> int:
    async def count() -> int:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(
                Topology(stack.env["TALLY_EVENT_NAMESPACE"]).queue(service), passive=True
            )
            return queue.declaration_result.consumer_count

    return asyncio.run(count())


def test_many_voters_on_the_same_posts_at_once(stack, gateway, posts_database, votes_database, rng):
    author, *voters = new_accounts(stack.gateway_url, 31)
    post_ids = new_posts(gateway, author, 5)
    ledger = Ledger(post_ids)

    votes = random_votes(rng, voters, post_ids, 300)
    vote_all_at_once(stack.gateway_url, votes, ledger, threads=30)

    assert ledger.answered == len(votes)
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)


def test_posts_worker_killed_mid_stream(stack, gateway, posts_database, votes_database, rng):
    author, *voters = new_accounts(stack.gateway_url, 13)
    post_ids = new_posts(gateway, author, 4)
    ledger = Ledger(post_ids)
    votes = random_votes(rng, voters, post_ids, 240)
    applied_before = applied_vote_events(posts_database)

    try:
        with VotingRun(stack.gateway_url, votes, ledger, threads=20):
            ledger.wait_answered(60)
            assert eventually(lambda: applied_vote_events(posts_database) > applied_before), (
                "the worker applied nothing yet"
            )
            assert stack.stop("posts-worker", signal.SIGKILL) == -signal.SIGKILL
            answered_when_killed = ledger.answered
            ledger.wait_answered(min(len(votes), answered_when_killed + 80))
            stack.start("posts-worker")
    finally:
        if "posts-worker" not in stack.processes:
            stack.start("posts-worker")

    assert answered_when_killed < len(votes), "the worker was killed only after the last vote"
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)


def test_votes_succeed_while_the_broker_is_unreachable_and_counts_catch_up(
    stack, gateway, posts_database, votes_database
):
    author, *voters = new_accounts(stack.gateway_url, 9)
    post_ids = new_posts(gateway, author, 3)
    ledger = Ledger(post_ids)
    normal_relay = stack.commands["votes-relay"]
    proxy = CuttableProxy()
    try:
        stack.stop("votes-relay")
        stack.start("votes-relay", ["env", f"TALLY_AMQP_URL={proxy.url}", *normal_relay])
        cast(gateway, Vote(voters[0], post_ids[0], 1), ledger)
        assert_exact_counts(gateway, author, posts_database, votes_database, ledger)  # events flow through the proxy
        assert proxy.connections >= 1
        before = shown_counts(posts_database, post_ids)

        proxy.cut()
        outage = [Vote(voter, post_id, 1) for voter in voters[1:] for post_id in post_ids]
        vote_all_at_once(stack.gateway_url, outage, ledger, threads=8)

        assert ledger.unexpected == []
        assert ledger.counts() == {post_id: before[post_id] + len(voters) - 1 for post_id in post_ids}, (
            "every vote must be 201 without the broker"
        )
        assert pending_events(votes_database, post_ids) == len(outage)
        # Nothing moves while the events wait in the outbox.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert shown_counts(posts_database, post_ids) == before
            assert pending_events(votes_database, post_ids) == len(outage)
            time.sleep(POLL_SECONDS)

        proxy.restore()
        assert_exact_counts(gateway, author, posts_database, votes_database, ledger)
        assert eventually(lambda: pending_events(votes_database, post_ids) == 0)
    finally:
        if "votes-relay" in stack.processes:
            stack.stop("votes-relay")
        stack.start("votes-relay", normal_relay)
        proxy.shutdown()

    # And the stack's own relay publishes again.
    cast(gateway, Vote(voters[0], post_ids[0], 0), ledger)
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)


def skipped_duplicates(stack) -> int:
    return sum(int(n) for n in re.findall(r"skipping (\d+) event\(s\) already applied", stack.log("posts-worker")))


def test_every_event_delivered_twice(stack, gateway, posts_database, votes_database, rng):
    author, *voters = new_accounts(stack.gateway_url, 11)
    post_ids = new_posts(gateway, author, 4)
    ledger = Ledger(post_ids)
    vote_all_at_once(stack.gateway_url, random_votes(rng, voters, post_ids, 120), ledger, threads=15)
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)
    duplicates_before = skipped_duplicates(stack)

    more = random_votes(rng, voters, post_ids, 120)
    with VotingRun(stack.gateway_url, more, ledger, threads=15):
        ledger.wait_answered(120 + 40)
        # Everything about these posts published so far goes out again, among the new votes' events.
        with votes_database.begin() as connection:
            republished = connection.execute(
                text(
                    "UPDATE votes.outbox SET published_at = NULL WHERE published_at IS NOT NULL"
                    " AND (envelope -> 'data' ->> 'post_id')::bigint = ANY(:ids)"
                ),
                {"ids": post_ids},
            ).rowcount

    assert republished > 0
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)
    assert eventually(lambda: pending_events(votes_database, post_ids) == 0), "the outbox did not drain"
    assert eventually(lambda: skipped_duplicates(stack) > duplicates_before), "no duplicate reached the worker"
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)


def test_two_posts_workers_at_once(stack, gateway, posts_database, votes_database, rng):
    author, *voters = new_accounts(stack.gateway_url, 13)
    post_ids = new_posts(gateway, author, 5)
    ledger = Ledger(post_ids)
    votes = random_votes(rng, voters, post_ids, 240)
    exit_code = None
    try:
        with VotingRun(stack.gateway_url, votes[:120], ledger, threads=20):
            ledger.wait_answered(30)
            # At DEBUG it logs each batch it applies.
            stack.start("posts-worker-2", ["env", "TALLY_LOG_LEVEL=DEBUG", sys.executable, "-m", "posts.worker"])
        assert eventually(lambda: queue_consumers(stack, "posts") == 2, timeout=60), "the second worker never consumed"
        vote_all_at_once(stack.gateway_url, votes[120:], ledger, threads=20)
        assert_exact_counts(gateway, author, posts_database, votes_database, ledger)
        assert re.search(r"applied \d+ vote event\(s\)", stack.log("posts-worker-2")), "the second worker applied none"
    finally:
        if "posts-worker-2" in stack.processes:
            exit_code = stack.stop("posts-worker-2")
    assert exit_code == 0, stack.log("posts-worker-2")[-3000:]

    # The stack's own worker carries on alone.
    vote_all_at_once(stack.gateway_url, random_votes(rng, voters, post_ids, 40), ledger, threads=10)
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)


def reconcile(stack) -> tuple[int, int, str]:
    """Runs `python -m posts.reconcile` once; returns (checked, fixed, its whole output)."""
    completed = subprocess.run(
        [sys.executable, "-m", "posts.reconcile"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    report = re.search(r"^reconciled: checked (\d+) posts, fixed (\d+)$", completed.stdout, re.MULTILINE)
    assert report, output
    return int(report[1]), int(report[2]), output


def test_reconciliation_repairs_drifted_counts(stack, gateway, posts_database, votes_database, rng):
    author, *voters = new_accounts(stack.gateway_url, 7)
    post_ids = new_posts(gateway, author, 5)
    ledger = Ledger(post_ids)
    vote_all_at_once(stack.gateway_url, random_votes(rng, voters, post_ids, 60), ledger, threads=8)
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)
    truth = ledger.counts()
    # Whatever else in the database may have drifted (say, a count whose event an aborted earlier run
    # never delivered) is fixed now, so that what follows counts only the drift made here.
    reconcile(stack)

    drifted = post_ids[:3]
    with posts_database.begin() as connection:
        changed = connection.execute(
            text("UPDATE posts.posts SET votes = votes + 7 WHERE id = ANY(:ids)"), {"ids": drifted}
        ).rowcount
    assert changed == len(drifted)
    assert shown_counts(posts_database, post_ids) == {
        post_id: truth[post_id] + (7 if post_id in drifted else 0) for post_id in post_ids
    }

    checked, fixed, output = reconcile(stack)
    assert fixed == len(drifted), output
    assert checked >= len(post_ids)
    for post_id in drifted:
        assert f"post {post_id}: count {truth[post_id] + 7} drifted from the truth {truth[post_id]}; fixed" in output
    assert shown_counts(posts_database, post_ids) == truth
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)

    _, fixed_again, output = reconcile(stack)
    assert fixed_again == 0, output
    assert shown_counts(posts_database, post_ids) == truth


def test_reconciliation_while_votes_flow_leaves_every_count_exact(stack, gateway, posts_database, votes_database, rng):
    """Recounts race the vote events in flight: each vote is counted once, by the recount or after it."""
    author, *voters = new_accounts(stack.gateway_url, 9)
    post_ids = new_posts(gateway, author, 3)
    ledger = Ledger(post_ids)
    reports = []
    votes = random_votes(rng, voters, post_ids, 1500)
    with VotingRun(stack.gateway_url, votes, ledger, threads=12):
        while ledger.answered < len(votes) and len(reports) < 20:
            reports.append(reconcile(stack))
    assert len(reports) >= 2, "reconciliation must have run while votes were being cast"
    assert_exact_counts(gateway, author, posts_database, votes_database, ledger)
    _, fixed, output = reconcile(stack)
    assert fixed == 0, output
