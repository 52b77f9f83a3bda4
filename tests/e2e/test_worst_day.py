"""The worst day, end to end through the gateway: a post that goes viral, more votes than the
stack can serve, clients that give up mid-request, and PostgreSQL cut off mid-load.

Every answer must be definite (a vote's 201/409/404, or 503 with `Retry-After` when the
stack is saturated or its database is gone), never a 500, a 502 or a hang; the stack must
serve normally again by itself; and every acknowledged vote must be counted exactly once.

The voters hold tokens issued with the auth service's own signing key (`AuthService.issue_token`,
as `POST /login` does), so a thousand distinct users cost no thousand Argon2 hashes.
"""

import asyncio
import itertools
import os
import random
import time
from collections import Counter
from dataclasses import dataclass

import aiohttp
import httpx
import pytest
from accounts import bearer, new_account
from conftest import Stack, wait_until_ready
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from auth.keys import KeyRing
from auth.service import AuthService
from auth.settings import AuthSettings
from tally_shared.db import setup as dbsetup
from tally_testing import TcpProxy

VIRAL_VOTERS = 1000
CONNECTIONS = 200
# The gateway's upstream timeout (20 s) plus a margin: an answer later than this is a hang.
ANSWER_TIMEOUT_SECONDS = 25
OVERLOAD_SECONDS = 20
DEFINITE_VOTE_ANSWERS = {201, 409, 404}
# Each test mints voters from its own range of ids, far above the ids of registered users.
_voter_ids = itertools.count(10**12, 100_000)


@dataclass(frozen=True)
class Voter:
    id: int
    headers: dict[str, str]


def mint_voters(stack: Stack, count: int) -> list[Voter]:
    """`count` distinct users, with tokens as the auth service issues them."""
    settings = AuthSettings(database_url=stack.database_urls["auth"], jwt_keys_dir=stack.keys_dir)
    issuer = AuthService(settings, KeyRing(settings))
    first = next(_voter_ids)
    return [
        Voter(user_id, bearer(issuer.issue_token(user_id=user_id, email=f"voter{user_id}@example.com")))
        for user_id in range(first, first + count)
    ]


@pytest.fixture(scope="module")
def author(stack: Stack):
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        return new_account(client)


def new_post(stack: Stack, author, title: str = "worst day") -> int:
    response = httpx.post(
        f"{stack.gateway_url}/posts", json={"title": title, "content": "c"}, headers=author.headers, timeout=30
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def shown_count(stack: Stack, author, post_id: int) -> int:
    response = httpx.get(f"{stack.gateway_url}/posts/{post_id}", headers=author.headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["votes"]


def recorded_votes(stack: Stack, post_ids: list[int]) -> set[tuple[int, int]]:
    """The `(user_id, post_id)` of every vote on these posts, as rows in the votes service."""
    engine = stack.database("votes")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT user_id, post_id FROM votes.votes WHERE post_id = ANY(:ids)"), {"ids": post_ids}
            )
            return {(user_id, post_id) for user_id, post_id in rows}
    finally:
        engine.dispose()


def counts_of(votes: set[tuple[int, int]], post_ids: list[int]) -> dict[int, int]:
    counts = Counter(post_id for _, post_id in votes)
    return {post_id: counts[post_id] for post_id in post_ids}


async def eventually_shown(stack: Stack, author, expected: dict[int, int], timeout: float = 60) -> None:
    """Until the posts service shows every expected count (the events have a lag to cover)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = {post_id: shown_count(stack, author, post_id) for post_id in expected}
        if shown == expected:
            return
        assert time.monotonic() < deadline, f"counts shown {shown}, expected {expected}"
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer at all (a timeout or a broken connection)
    started: float
    seconds: float
    retry_after: str | None = None
    error: str | None = None


def session(stack: Stack, connections: int, timeout: float = ANSWER_TIMEOUT_SECONDS) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        stack.gateway_url,
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )


async def send_vote(client: aiohttp.ClientSession, voter: Voter, post_id: int, direction: int) -> Answer:
    started = time.monotonic()
    try:
        body = {"post_id": post_id, "dir": direction}
        async with client.post("/vote", json=body, headers=voter.headers) as response:
            await response.read()
            return Answer(response.status, started, time.monotonic() - started, response.headers.get("Retry-After"))
    except (aiohttp.ClientError, TimeoutError) as error:
        return Answer(None, started, time.monotonic() - started, error=repr(error))


def refusals(answers: list[Answer]) -> list[Answer]:
    """Answers that are not a definite vote outcome nor a 503 with Retry-After."""
    return [
        answer
        for answer in answers
        if answer.status not in DEFINITE_VOTE_ANSWERS and not (answer.status == 503 and answer.retry_after)
    ]


async def ready_within(stack: Stack, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=seconds) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{stack.gateway_url}/readyz")).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    return False


async def test_a_thousand_voters_on_one_post_at_once(stack, author):
    hot, unrelated = new_post(stack, author, "viral"), new_post(stack, author, "quiet")
    voters = mint_voters(stack, VIRAL_VOTERS)
    reads: list[tuple[int, float]] = []
    readiness: list[tuple[int, str]] = []
    voting_done = asyncio.Event()

    async def keep_reading() -> None:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=ANSWER_TIMEOUT_SECONDS) as client:
            while not voting_done.is_set():
                started = time.monotonic()
                response = await client.get(f"/posts/{unrelated}", headers=author.headers)
                reads.append((response.status_code, time.monotonic() - started))
                ready = await client.get("/readyz")
                readiness.append((ready.status_code, ready.text))
                await asyncio.sleep(0.05)

    async def everyone_votes(direction: int) -> list[Answer]:
        async with session(stack, CONNECTIONS) as client:
            return await asyncio.gather(*(send_vote(client, voter, hot, direction) for voter in voters))

    reading = asyncio.create_task(keep_reading())
    cast = await everyone_votes(1)
    voting_done.set()
    await reading

    assert Counter(answer.status for answer in cast) == {201: VIRAL_VOTERS}, [a for a in cast if a.status != 201][:5]
    assert reads and all(status == 200 for status, _ in reads), reads
    assert max(seconds for _, seconds in reads) < 1.0, f"an unrelated read took {max(s for _, s in reads):.2f}s"
    assert readiness and all(status == 200 for status, _ in readiness), Counter(readiness)
    await eventually_shown(stack, author, {hot: VIRAL_VOTERS})

    retracted = await everyone_votes(0)
    assert Counter(answer.status for answer in retracted) == {201: VIRAL_VOTERS}, [
        answer for answer in retracted if answer.status != 201
    ][:5]
    await eventually_shown(stack, author, {hot: 0})


async def test_twice_the_vote_capacity_is_answered_and_every_acknowledged_vote_counts(stack, author):
    post_ids = [new_post(stack, author, f"overload {i}") for i in range(20)]
    voters = mint_voters(stack, 1500)
    pairs = iter([(voter, post_id) for voter in voters for post_id in post_ids])
    answers: list[tuple[Voter, int, Answer]] = []

    # Capacity: what the stack answers with 201 a second, closed loop, 64 at a time.
    async with session(stack, 64) as client:
        deadline = time.monotonic() + 4

        async def closed_loop() -> None:
            while time.monotonic() < deadline:
                voter, post_id = next(pairs)
                answers.append((voter, post_id, await send_vote(client, voter, post_id, 1)))

        started = time.monotonic()
        await asyncio.gather(*(closed_loop() for _ in range(64)))
        capacity = sum(answer.status == 201 for *_, answer in answers) / (time.monotonic() - started)
    assert capacity > 0, refusals([answer for *_, answer in answers])[:5]

    # Then an open-loop stream at twice that: requests leave on schedule, answered or not.
    rate = 2 * capacity
    async with session(stack, 2000) as client:
        start = time.monotonic()
        in_flight = []

        async def one(voter: Voter, post_id: int) -> None:
            answers.append((voter, post_id, await send_vote(client, voter, post_id, 1)))

        for sent in itertools.count():
            due = start + sent / rate
            if due > start + OVERLOAD_SECONDS:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            in_flight.append(asyncio.create_task(one(*next(pairs))))
        await asyncio.gather(*in_flight)
    offered = len(in_flight) / OVERLOAD_SECONDS
    statuses = Counter(answer.status for *_, answer in answers)
    print(f"capacity {capacity:.0f} votes/s; offered {offered:.0f}/s for {OVERLOAD_SECONDS}s; answers {statuses}")

    assert refusals([answer for *_, answer in answers]) == []
    assert max(answer.seconds for *_, answer in answers) < ANSWER_TIMEOUT_SECONDS
    assert await ready_within(stack, 1.0), "the stack was not ready within a second of the overload"
    fresh = mint_voters(stack, 1)[0]
    async with session(stack, 1) as client:
        assert (await send_vote(client, fresh, post_ids[0], 1)).status == 201
    acknowledged = {(voter.id, post_id) for voter, post_id, answer in answers if answer.status == 201}
    acknowledged.add((fresh.id, post_ids[0]))
    # No database fault here: every 503 was refused before any work, so the votes are exactly the 201s.
    assert recorded_votes(stack, post_ids) == acknowledged
    await eventually_shown(stack, author, counts_of(acknowledged, post_ids))


async def test_clients_that_give_up_mid_request_leave_nothing_behind(stack, author):
    post_id = new_post(stack, author, "abandoned")
    voters = mint_voters(stack, 400)
    rng = random.Random(7)

    async def abandoned(index: int) -> None:
        give_up_after = rng.uniform(0.001, 0.02)
        client = aiohttp.ClientSession(stack.gateway_url, timeout=aiohttp.ClientTimeout(total=give_up_after))
        async with client:
            try:
                if index % 2:
                    await send_vote(client, voters[index], post_id, 1)
                else:
                    async with client.get(f"/posts/{post_id}", headers=author.headers) as response:
                        await response.read()
            except (aiohttp.ClientError, TimeoutError):
                pass

    await asyncio.gather(*(abandoned(index) for index in range(300)))
    # Then normal traffic: every answer definite.
    async with session(stack, 50) as client:
        normal = await asyncio.gather(*(send_vote(client, voter, post_id, 1) for voter in voters[300:]))
    assert Counter(answer.status for answer in normal) == {201: 100}, refusals(normal)[:5]

    await eventually_shown(stack, author, counts_of(recorded_votes(stack, [post_id]), [post_id]))
    await asyncio.sleep(1)
    assert sessions_idle_in_transaction(stack) == 0
    for service, urls in stack.service_urls.items():
        for url in urls:
            metrics = httpx.get(f"{url}/metrics", timeout=5).text
            assert "\ndb_pool_connections_checked_out 0.0\n" in metrics, f"{service} still holds a connection"


def sessions_idle_in_transaction(stack: Stack) -> int:
    """Every service's sessions left idle in a transaction (read as the superuser, who sees them all).

    Left, not passing through: a relay's poll or a worker's batch is idle in its transaction
    for the moment between two statements, many times a second; a session a request left
    behind stays so until PostgreSQL's idle-in-transaction timeout."""
    database = make_url(stack.database_urls["votes"]).database
    engine = create_engine(os.environ.get("TALLY_ADMIN_DATABASE_URL", dbsetup.DEFAULT_ADMIN_URL))
    try:
        with engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = :database AND state LIKE 'idle in transaction%'"
                    " AND state_change < now() - interval '500 milliseconds'"
                ),
                {"database": database},
            ).scalar_one()
    finally:
        engine.dispose()


async def test_postgresql_cut_off_mid_load_gives_only_503s_and_loses_nothing(stack, author):
    """The votes API, its relay and the posts worker reach PostgreSQL through a proxy that is cut
    for three seconds while votes keep coming."""
    post_ids = [new_post(stack, author, f"outage {i}") for i in range(5)]
    voters = mint_voters(stack, 2000)
    proxy = TcpProxy(stack.database_urls["votes"])
    await proxy.open()
    through_proxy = {
        "votes": ("VOTES_DATABASE_URL", "votes"),
        "votes-relay": ("VOTES_DATABASE_URL", "votes"),
        "posts-worker": ("POSTS_DATABASE_URL", "posts"),
    }
    normal_commands = {name: stack.commands[name] for name in through_proxy}
    try:
        for name, (variable, service) in through_proxy.items():
            url = stack.database_urls[service].replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            await restart(stack, name, ["env", f"{variable}={url}", *normal_commands[name]])
        await asyncio.to_thread(wait_until_ready, stack)

        pairs = iter([(voter, post_id) for voter in voters for post_id in post_ids])
        answers: list[tuple[Voter, int, Answer]] = []
        outage: dict[str, float] = {}

        async def keep_voting(until: float) -> None:
            async with session(stack, 1) as client:
                while time.monotonic() < until:
                    voter, post_id = next(pairs)
                    answers.append((voter, post_id, await send_vote(client, voter, post_id, 1)))

        async def cut_then_restore() -> None:
            await asyncio.sleep(2)
            outage["from"] = time.monotonic()
            await proxy.close()
            await asyncio.sleep(3)
            await proxy.open()
            outage["to"] = time.monotonic()

        end = time.monotonic() + 9
        await asyncio.gather(cut_then_restore(), *(keep_voting(end) for _ in range(16)))
    finally:
        # The proxy runs on this event loop: it must keep forwarding while they shut down.
        for name, command in normal_commands.items():
            await restart(stack, name, command)
        await proxy.close()
    await asyncio.to_thread(wait_until_ready, stack)

    statuses = Counter(answer.status for *_, answer in answers)
    print(f"answers during and around a 3 s database outage: {statuses}")
    assert refusals([answer for *_, answer in answers]) == [], statuses
    assert statuses[503] > 0, "the outage was not felt: the test proves nothing"
    late = [answer for *_, answer in answers if answer.status == 503 and answer.started > outage["to"] + 0.5]
    assert late == [], f"{len(late)} answers 503 after the database came back"
    acknowledged = {(voter.id, post_id) for voter, post_id, answer in answers if answer.status == 201}
    unknown = {(voter.id, post_id) for voter, post_id, answer in answers if answer.status == 503}
    recorded = recorded_votes(stack, post_ids)
    assert acknowledged <= recorded, "a vote answered 201 was lost"
    # A COMMIT whose reply the cut lost was answered 503 and may have been written: a retry
    # of it gets 409, which tells the client. Nothing else may have been written.
    assert recorded - acknowledged <= unknown
    await eventually_shown(stack, author, counts_of(recorded, post_ids))


async def restart(stack: Stack, name: str, command: list[str]) -> None:
    """Stops the process (if running) and starts `command` under its name, off the event loop."""
    if name in stack.processes:
        await asyncio.to_thread(stack.stop, name)
    stack.start(name, command)


def test_no_process_logged_an_unhandled_exception(stack):
    """Runs after the tests above (same module, in order): outages and overload are answered, not crashed on."""
    for name in stack.processes:
        log = stack.log(name)
        assert "Exception in ASGI application" not in log, f"{name}:\n{log[-3000:]}"
