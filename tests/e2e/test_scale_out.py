"""Scale out: two of every API, relay, worker and gateway, as `make run REPLICAS=2` runs them.

Voters spread over both gateways. A client that cannot connect to one gateway
goes to the other (nothing was sent, so nothing can be applied twice); that is
the only retry, the one a load balancer in front of the gateways makes.
"""

import itertools
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from faults import new_accounts
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tally_shared.db import setup as dbsetup
from tally_testing import TEST_DATABASE

CONVERGENCE_SECONDS = 45
# Every kind of process of the stack, in the order a rolling restart takes them.
PROCESSES = (
    "auth",
    "posts",
    "votes",
    "auth-relay",
    "posts-relay",
    "posts-worker",
    "votes-relay",
    "votes-worker",
    "gateway-worker",
    "gateway",
)
APIS = ("auth", "posts", "votes", "gateway")
DATABASE = f"{TEST_DATABASE}_replicated"


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    from conftest import launched_stack  # noqa: PLC0415  (the e2e conftest, on pytest's path)

    admin = make_url(dbsetup.DEFAULT_ADMIN_URL)
    urls = {"any": make_url(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{DATABASE}")}
    dbsetup.drop(admin, urls)  # a clean start, whatever an interrupted run left
    try:
        with launched_stack(tmp_path_factory, replicas=2, database=DATABASE) as stack:
            yield stack
    finally:
        dbsetup.drop(admin, urls)


@dataclass
class Outcomes:
    """What the voters were told: 201 is acknowledged; no answer (the gateway they were talking
    to was killed mid-request) leaves a vote that may or may not have been applied."""

    acknowledged: set[tuple[int, int]] = field(default_factory=set)
    unknown: set[tuple[int, int]] = field(default_factory=set)
    server_errors: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def vote_everywhere(gateway_urls, pairs, outcomes: Outcomes, threads: int = 24) -> list[threading.Thread]:
    """Casts each (voter, post) vote once, from `threads` clients spread over the gateways."""
    work = iter(pairs)
    work_lock = threading.Lock()

    def run(first_gateway: int) -> None:
        clients = [httpx.Client(base_url=url, timeout=60) for url in gateway_urls]
        turn = itertools.count(first_gateway)
        try:
            while True:
                with work_lock:
                    item = next(work, None)
                if item is None:
                    return
                voter, post_id = item
                cast_once(clients, turn, voter, post_id, outcomes)
        finally:
            for client in clients:
                client.close()

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    return workers


def cast_once(clients, turn, voter, post_id: int, outcomes: Outcomes) -> None:
    key = (voter.id, post_id)
    response, error = None, None
    for _ in range(len(clients) * 3):
        client = clients[next(turn) % len(clients)]
        try:
            response = client.post("/vote", json={"post_id": post_id, "dir": 1}, headers=voter.headers)
            break
        except httpx.ConnectError:
            time.sleep(0.05)  # that gateway is down: nothing was sent, the other one may take it
        except httpx.HTTPError as exc:
            error = repr(exc)
            break
    with outcomes.lock:
        outcomes.answered += 1
        if response is None:
            outcomes.unknown.add(key)
            outcomes.unanswered.append(f"{key}: {error}")
        elif response.status_code == 201:
            outcomes.acknowledged.add(key)
        elif response.status_code >= 500:
            outcomes.unknown.add(key)
            outcomes.server_errors.append(f"{key}: {response.status_code} {response.text}")
        else:
            outcomes.other.append(f"{key}: {response.status_code} {response.text}")


def wait_answered(outcomes: Outcomes, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while outcomes.answered < count:
        assert time.monotonic() < deadline, f"only {outcomes.answered} of {count} votes answered"
        time.sleep(0.05)


def stored_votes(stack, post_ids) -> set[tuple[int, int]]:
    engine = create_engine(stack.database_urls["votes"])
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT user_id, post_id FROM votes.votes WHERE post_id = ANY(:ids)"), {"ids": list(post_ids)}
        ).all()
    engine.dispose()
    return {(row.user_id, row.post_id) for row in rows}


def assert_counts_become(stack, expected: Counter) -> None:
    engine = create_engine(stack.database_urls["posts"])
    deadline = time.monotonic() + CONVERGENCE_SECONDS
    try:
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT id, votes FROM posts.posts WHERE id = ANY(:ids)"), {"ids": list(expected)}
                ).all()
            counts = {row.id: row.votes for row in rows}
            if counts == dict(expected) or time.monotonic() > deadline:
                assert counts == dict(expected)
                return
            time.sleep(0.1)
    finally:
        engine.dispose()


def setup_voting(stack, voters: int, posts: int):
    author, *accounts = new_accounts(stack.gateway_url, voters + 1)
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as gateway:
        post_ids = []
        for number in range(posts):
            body = {"title": f"scaled {number}", "content": "c"}
            response = gateway.post("/posts", json=body, headers=author.headers)
            assert response.status_code == 201, response.text
            post_ids.append(response.json()["id"])
    pairs = [(voter, post_id) for voter in accounts for post_id in post_ids]
    return post_ids, pairs


def test_one_replica_of_everything_killed_mid_run_loses_no_acknowledged_vote(replicated):
    stack = replicated
    post_ids, pairs = setup_voting(stack, voters=30, posts=8)
    outcomes = Outcomes()
    workers = vote_everywhere(stack.gateway_urls, pairs, outcomes)

    wait_answered(outcomes, len(pairs) // 3)
    victims = [stack.names(process)[0] for process in PROCESSES]
    for name in victims:
        assert stack.stop(name, signal.SIGKILL) == -signal.SIGKILL
    answered_at_kill = outcomes.answered
    for worker in workers:
        worker.join(timeout=180)
    assert not any(worker.is_alive() for worker in workers)

    assert outcomes.answered == len(pairs)
    assert outcomes.answered > answered_at_kill, "no vote was cast after the kill"
    assert outcomes.other == []  # 201 or, from a process killed mid-request, 5xx or no answer
    print(f"{len(outcomes.acknowledged)} acknowledged, {len(outcomes.unknown)} unknown: {outcomes.server_errors[:3]}")
    stored = stored_votes(stack, post_ids)
    # Nothing acknowledged is lost; nothing appears that nobody cast.
    assert outcomes.acknowledged <= stored <= outcomes.acknowledged | outcomes.unknown
    assert_counts_become(stack, Counter({post_id: 0 for post_id in post_ids}) + Counter(p for _, p in stored))
    for name in victims:
        stack.start(name)


def test_a_rolling_restart_under_load_answers_every_vote_and_loses_none(replicated):
    stack = replicated
    for url in stack.gateway_urls:
        wait_for_ready(url)
    post_ids, pairs = setup_voting(stack, voters=40, posts=10)
    outcomes = Outcomes()
    workers = vote_everywhere(stack.gateway_urls, pairs, outcomes, threads=16)

    wait_answered(outcomes, len(pairs) // 10)
    for process in PROCESSES:
        for name in stack.names(process):
            # uvicorn re-raises SIGTERM once it has shut down gracefully; the others exit 0.
            assert stack.stop(name, signal.SIGTERM) in (0, -signal.SIGTERM), stack.log(name)[-2000:]
            stack.start(name)
            if process in APIS:
                wait_for_ready(process_url(stack, name))
    for worker in workers:
        worker.join(timeout=180)
    assert not any(worker.is_alive() for worker in workers)

    assert outcomes.server_errors == []
    assert outcomes.unanswered == []
    assert outcomes.other == []
    assert outcomes.unknown == set()
    assert len(outcomes.acknowledged) == len(pairs)
    assert stored_votes(stack, post_ids) == outcomes.acknowledged
    assert_counts_become(stack, Counter(p for _, p in outcomes.acknowledged))


def process_url(stack, name: str) -> str:
    process, _, replica = name.rpartition("-")
    urls = stack.gateway_urls if process == "gateway" else stack.service_urls[process]
    return urls[int(replica) - 1]


def wait_for_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready"
        time.sleep(0.1)
