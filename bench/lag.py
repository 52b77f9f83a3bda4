"""Vote propagation lag: from the 201 of POST /vote to the new count in GET /posts/{id}, via the gateway.

Every measured vote goes to a post that nothing else touches during the run
(the reserved posts, see `BenchConfig.lag_posts_from`), by a user who has not
voted on it, so "visible" means exactly: the post's count is one more than
before. The vote's 201 starts the clock; GET /posts/{id} is then polled every
few milliseconds until it shows that count.
"""

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aio_pika
import aiohttp
import psycopg2
from sqlalchemy.engine import make_url

from bench.config import EVENT_NAMESPACE, BenchConfig, database_url
from bench.wrk import WrkResult
from tally_shared.events import Topology

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
# A vote whose count has not shown after this long is reported as not seen.
VISIBILITY_TIMEOUT_SECONDS = 30.0
# After the load, how long the backlog may take to drain before the benchmark moves on.
DRAIN_TIMEOUT_SECONDS = 120.0


CLIENT_ERRORS = (aiohttp.ClientError, TimeoutError)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between the closest ranks; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _dsn(component: str) -> str:
    return make_url(database_url(component)).set(drivername="postgresql").render_as_string(hide_password=False)


def query(component: str, sql: str, parameters: tuple = ()) -> list[tuple]:
    with contextlib.closing(psycopg2.connect(_dsn(component))) as connection, connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        return cursor.fetchall()


# ---- which votes to cast ----


@dataclass(frozen=True)
class Target:
    post_id: int
    user_id: int
    # The count GET /posts/{id} shows once this vote has propagated.
    expected_votes: int


class ReservedPosts:
    """Hands out (post, user) pairs on the reserved posts that are sure to be new votes.

    A measured vote gets a post of its own (never used again); the unmeasured
    votes of the steady stream share a separate pool of posts.
    """

    def __init__(self, config: BenchConfig, logged_in: list[int], rng: random.Random) -> None:
        first, hot = config.lag_posts_from, config.hot_post_id
        counts = dict(query("posts", "SELECT id, votes FROM posts.posts WHERE id >= %s AND id <> %s", (first, hot)))
        voted: dict[int, set[int]] = {post_id: set() for post_id in counts}
        for user_id, post_id in query(
            "votes",
            "SELECT user_id, post_id FROM votes.votes WHERE post_id >= %s AND post_id <> %s AND user_id = ANY(%s)",
            (first, hot, logged_in),
        ):
            voted[post_id].add(user_id)
        self._rng = rng
        self._counts = counts
        self._free_users = {post_id: [u for u in logged_in if u not in voted[post_id]] for post_id in counts}
        post_ids = [post_id for post_id in counts if self._free_users[post_id]]
        rng.shuffle(post_ids)
        # A tenth for the unmeasured votes, taken in turn so that no post's row becomes a hot spot.
        shared = len(post_ids) // 10
        self._shared_posts, self._own_posts = post_ids[:shared], post_ids[shared:]
        self._turn = 0

    def measured(self) -> Target:
        post_id = self._own_posts.pop()
        user_id = self._rng.choice(self._free_users[post_id])
        return Target(post_id, user_id, self._counts[post_id] + 1)

    def unmeasured(self) -> Target:
        while True:
            post_id = self._shared_posts[self._turn % len(self._shared_posts)]
            self._turn += 1
            if self._free_users[post_id]:
                break
        user_id = self._free_users[post_id].pop()
        self._counts[post_id] += 1
        return Target(post_id, user_id, self._counts[post_id])


# ---- measuring ----


@dataclass
class LagRecord:
    lags: list[float] = field(default_factory=list)
    # Measured votes whose count had not shown within VISIBILITY_TIMEOUT_SECONDS.
    not_seen: int = 0
    # Every vote cast by this measurement (measured or not), by status (0: no answer).
    statuses: dict[int, int] = field(default_factory=dict)
    # How long each POST /vote took to answer, and when the last one was answered.
    vote_latencies: list[float] = field(default_factory=list)
    last_answer: float = 0.0

    def count(self, status: int, sent_at: float) -> None:
        self.last_answer = time.perf_counter()
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.vote_latencies.append(self.last_answer - sent_at)

    @property
    def p50_ms(self) -> float:
        return percentile(self.lags, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.lags, 99) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.lags, default=float("nan")) * 1000

    def vote_latency_ms(self, p: float) -> float:
        return percentile(self.vote_latencies, p) * 1000


class LagMeter:
    def __init__(self, client: aiohttp.ClientSession, tokens: dict[int, str], poll_interval: float) -> None:
        self._client = client
        self._tokens = tokens
        self._poll_interval = poll_interval

    def _auth(self, user_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._tokens[user_id]}"}

    async def vote(self, target: Target, record: LagRecord) -> bool:
        sent_at = time.perf_counter()
        try:
            async with self._client.post(
                "/vote", json={"post_id": target.post_id, "dir": 1}, headers=self._auth(target.user_id)
            ) as response:
                await response.read()
        except CLIENT_ERRORS:
            record.count(0, sent_at)
            return False
        record.count(response.status, sent_at)
        return response.status == 201

    async def measure(self, target: Target, record: LagRecord) -> None:
        """Vote, then poll the post until its count shows the vote."""
        if not await self.vote(target, record):
            return
        voted_at = time.perf_counter()
        headers = self._auth(target.user_id)
        while time.perf_counter() - voted_at < VISIBILITY_TIMEOUT_SECONDS:
            with contextlib.suppress(*CLIENT_ERRORS):
                async with self._client.get(f"/posts/{target.post_id}", headers=headers) as response:
                    body = await response.json() if response.status == 200 else None
                if body is not None and body["votes"] >= target.expected_votes:
                    record.lags.append(time.perf_counter() - voted_at)
                    return
            await asyncio.sleep(self._poll_interval)
        record.not_seen += 1


async def at_rate(rate: float, seconds: float, start_one: Callable[[int], Awaitable[None]]) -> None:
    """Open loop: the i-th task starts at i / rate seconds, however long the earlier ones take."""
    started = time.perf_counter()
    tasks = []
    for index in range(int(rate * seconds)):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start_one(index)))
    await asyncio.gather(*tasks)


def _client(gateway_url: str) -> aiohttp.ClientSession:
    # aiohttp rather than httpx: the measuring client shares the 2 cores with the stack, and
    # httpx costs about 25 times aiohttp's CPU per request (see gateway/upstream.py).
    return aiohttp.ClientSession(
        base_url=gateway_url, timeout=aiohttp.ClientTimeout(total=10), connector=aiohttp.TCPConnector(limit=200)
    )


@dataclass
class SteadyLag:
    # What the rate is, e.g. "half the vote capacity".
    label: str
    rate: float
    # From the first vote sent to the last vote answered: longer than planned if the stack fell behind.
    seconds: float
    record: LagRecord

    @property
    def achieved_rate(self) -> float:
        return self.record.statuses.get(201, 0) / self.seconds


async def steady_lag(
    gateway_url: str, config: BenchConfig, tokens: dict[int, str], reserved: ReservedPosts, rate: float, label: str
) -> SteadyLag:
    """`rate` new votes a second for `lag_duration` seconds; one in `lag_sample_every` is followed."""
    record = LagRecord()
    async with _client(gateway_url) as client:
        meter = LagMeter(client, tokens, config.lag_poll_interval)

        async def one(index: int) -> None:
            if index % config.lag_sample_every == 0:
                await meter.measure(reserved.measured(), record)
            else:
                await meter.vote(reserved.unmeasured(), record)

        started = time.perf_counter()
        await at_rate(rate, config.lag_duration, one)
    return SteadyLag(label, rate, record.last_answer - started, record)


# ---- the backlog, while the vote load runs ----


@dataclass
class Backlog:
    """Once a second: the votes service's unpublished outbox rows, and the ready messages in
    the posts service's queue (messages the worker has taken but not yet acked are not counted)."""

    outbox: list[int] = field(default_factory=list)
    queue: list[int] = field(default_factory=list)
    # Once the load stopped: what was left, and how long it took to reach zero.
    outbox_at_end: int = 0
    queue_at_end: int = 0
    drain_seconds: float | None = None


async def _queue_depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return queue.declaration_result.message_count or 0


def _outbox_backlog() -> int:
    return query("votes", "SELECT count(*) FROM votes.outbox WHERE published_at IS NULL")[0][0]


async def _wait_until_drained(channel: aio_pika.abc.AbstractChannel, queue_name: str) -> float | None:
    """Seconds until no vote event waits in the outbox or the queue; None after DRAIN_TIMEOUT_SECONDS."""
    started = time.perf_counter()
    while time.perf_counter() - started < DRAIN_TIMEOUT_SECONDS:
        if await asyncio.to_thread(_outbox_backlog) == 0 and await _queue_depth(channel, queue_name) == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.2)
    return None


async def wait_until_drained() -> float | None:
    """So that a measurement does not start with the previous one's events still in flight."""
    async with await aio_pika.connect(AMQP_URL) as connection:
        return await _wait_until_drained(await connection.channel(), Topology(EVENT_NAMESPACE).queue("posts"))


async def _sample_backlog(backlog: Backlog, stop: asyncio.Event) -> None:
    queue_name = Topology(EVENT_NAMESPACE).queue("posts")
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        while not stop.is_set():
            backlog.outbox.append(await asyncio.to_thread(_outbox_backlog))
            backlog.queue.append(await _queue_depth(channel, queue_name))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        backlog.outbox_at_end = await asyncio.to_thread(_outbox_backlog)
        backlog.queue_at_end = await _queue_depth(channel, queue_name)
        backlog.drain_seconds = await _wait_until_drained(channel, queue_name)


@dataclass
class SaturatedLag:
    load: WrkResult
    record: LagRecord
    backlog: Backlog


async def saturated_lag(
    gateway_url: str,
    config: BenchConfig,
    tokens: dict[int, str],
    reserved: ReservedPosts,
    vote_load: Callable[[], WrkResult],
) -> SaturatedLag:
    """Runs `vote_load` (wrk POST /vote at full speed, in a thread) and meanwhile follows
    `saturated_lag_rate` votes a second on reserved posts and samples the backlog."""
    record = LagRecord()
    backlog = Backlog()
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(_sample_backlog(backlog, stop_sampling))
    load = asyncio.create_task(asyncio.to_thread(vote_load))
    async with _client(gateway_url) as client:
        meter = LagMeter(client, tokens, config.lag_poll_interval)

        async def one(index: int) -> None:
            await meter.measure(reserved.measured(), record)

        # Measured votes start a little after the load and stop a little before it,
        # so each is cast while the stack is saturated.
        await asyncio.sleep(1.0)
        await at_rate(config.saturated_lag_rate, max(1.0, config.duration - 2.0), one)
        result = await load
    stop_sampling.set()
    await sampler
    return SaturatedLag(result, record, backlog)
