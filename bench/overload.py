"""Overload: an open-loop stream of POST /vote at twice the new votes/s the stack reached.

wrk is a closed loop: each connection waits for its answer before it sends again, so it
slows down with the stack and never overloads it. Here the i-th vote is sent at i / rate
seconds whatever happened to the earlier ones, as clients keep arriving in real life. A
stack that sheds its excess answers the rest as fast as it can (goodput near its capacity)
and the excess with a fast 503 and Retry-After; one that queues it answers everything late,
or not at all.

Latency is counted from the moment a vote was due, not from when it was sent, so a client
that fell behind counts against the figures, not for them.
"""

import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from bench.lag import CLIENT_ERRORS, at_rate, percentile
from bench.stack import Readiness

# A vote not answered within this long is reported as unanswered (wrk's timeout too).
CLIENT_TIMEOUT_SECONDS = 10.0
# Answers that did the work asked for or said why not: a new vote, a vote already cast, no such post.
GOODPUT_STATUSES = (201, 409, 404)


@dataclass
class Overload:
    # New votes/s that wrk's POST /vote reached earlier in the run, and the rate offered here.
    capacity: float
    rate: float
    planned_seconds: float
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    # 503s without a Retry-After header.
    shed_without_retry_after: int = 0
    # Votes without any answer within CLIENT_TIMEOUT_SECONDS, by the client's error.
    unanswered: Counter = field(default_factory=Counter)
    # Seconds from when each answered vote was due to its answer, and those of the 503s.
    latencies: list[float] = field(default_factory=list)
    shed_latencies: list[float] = field(default_factory=list)
    # Requests each HTTP process turned away at once (`http_requests_shed_total`) during the stream.
    shed_at_once: dict[str, int] = field(default_factory=dict)
    # Seconds each vote was sent after it was due: the client's own lateness.
    send_delays: list[float] = field(default_factory=list)
    # From the first vote due to the last answer.
    seconds: float = 0.0
    # Every HTTP process's /readyz right after the last answer.
    readiness_after: list[Readiness] = field(default_factory=list)

    @property
    def goodput(self) -> float:
        return sum(self.statuses[status] for status in GOODPUT_STATUSES) / max(self.seconds, 1e-9)

    @property
    def share_of_capacity(self) -> float:
        return self.goodput / self.capacity if self.capacity else float("nan")

    @property
    def unanswered_total(self) -> int:
        return sum(self.unanswered.values())

    @property
    def shed_share(self) -> float:
        return self.statuses[503] / max(1, self.sent)

    def latency_ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    def shed_latency_ms(self, p: float) -> float:
        return percentile(self.shed_latencies, p) * 1000

    def send_delay_ms(self, p: float) -> float:
        return percentile(self.send_delays, p) * 1000


async def overload(
    gateway_url: str, tokens: list[str], max_post_id: int, capacity: float, seconds: float, rng: random.Random
) -> Overload:
    """Twice `capacity` votes a second for `seconds`: dir=1 on a random post in 1..`max_post_id`
    by a random one of `tokens` (as wrk's POST /vote does)."""
    rate = 2 * capacity
    result = Overload(capacity=capacity, rate=rate, planned_seconds=seconds)
    votes = [(rng.choice(tokens), rng.randint(1, max_post_id)) for _ in range(int(rate * seconds))]
    # No limit on the client's connections: waiting for one of its own would make it a closed loop.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(base_url=gateway_url, timeout=timeout, connector=connector) as client:
        started = time.perf_counter()

        async def one(index: int) -> None:
            due = started + index / rate
            result.send_delays.append(time.perf_counter() - due)
            result.sent += 1
            token, post_id = votes[index]
            try:
                async with client.post(
                    "/vote", json={"post_id": post_id, "dir": 1}, headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    await response.read()
            except CLIENT_ERRORS as error:
                result.unanswered[type(error).__name__] += 1
                return
            answered = time.perf_counter()
            result.latencies.append(answered - due)
            result.seconds = max(result.seconds, answered - started)
            result.statuses[response.status] += 1
            if response.status == 503:
                result.shed_latencies.append(answered - due)
                if "Retry-After" not in response.headers:
                    result.shed_without_retry_after += 1

        await at_rate(rate, seconds, one)
    return result
