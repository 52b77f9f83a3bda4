"""Faults and load for end-to-end tests: many voters at once with the truth kept from the
API's answers, and a broker or database that can be cut for one process of the stack."""

import asyncio
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from accounts import Account, new_account

from tally_testing import AMQP_URL, TcpProxy

REQUEST_TIMEOUT_SECONDS = 60


def new_accounts(gateway_url: str, count: int) -> list[Account]:
    """`count` users registered and logged in, a few at a time (password hashing is the slow part)."""

    def one(_: int) -> Account:
        with httpx.Client(base_url=gateway_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
            return new_account(client)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, range(count)))


@dataclass(frozen=True)
class Vote:
    voter: Account
    post_id: int
    direction: int


def random_votes(rng: random.Random, voters: Sequence[Account], post_ids: Sequence[int], count: int) -> list[Vote]:
    """`count` votes by random voters on random posts; adding a little likelier than removing."""
    return [Vote(rng.choice(voters), rng.choice(post_ids), 1 if rng.random() < 0.6 else 0) for _ in range(count)]


class Ledger:
    """The true number of votes per post, from the API's answers: 201 to dir=1 added one, 201 to
    dir=0 removed one, 409 (already voted) and 404 (no such vote) changed nothing."""

    def __init__(self, post_ids: Iterable[int] = ()) -> None:
        self.truth: Counter[int] = Counter({post_id: 0 for post_id in post_ids})
        self.answered = 0
        self.unexpected: list[str] = []
        self._answered_changed = threading.Condition()

    def record(self, vote: Vote, response: httpx.Response | None, error: str | None = None) -> None:
        change, problem = 0, None
        if response is None:
            problem = f"{vote}: no answer ({error})"
        elif response.status_code == 201:
            expected = "successfully added vote" if vote.direction == 1 else "successfully deleted vote"
            if response.json() != {"message": expected}:
                problem = f"{vote}: 201 with {response.text}"
            change = 1 if vote.direction == 1 else -1
        elif response.status_code != (409 if vote.direction == 1 else 404):
            problem = f"{vote}: {response.status_code} {response.text}"
        with self._answered_changed:
            self.truth[vote.post_id] += change
            self.answered += 1
            if problem:
                self.unexpected.append(problem)
            self._answered_changed.notify_all()

    def wait_answered(self, count: int, timeout: float = 120) -> None:
        with self._answered_changed:
            assert self._answered_changed.wait_for(lambda: self.answered >= count, timeout), (
                f"only {self.answered} of {count} votes answered in {timeout}s"
            )

    def counts(self) -> dict[int, int]:
        with self._answered_changed:
            return dict(self.truth)


def cast(client: httpx.Client, vote: Vote, ledger: Ledger) -> httpx.Response | None:
    try:
        response = client.post(
            "/vote", json={"post_id": vote.post_id, "dir": vote.direction}, headers=vote.voter.headers
        )
    except httpx.HTTPError as error:
        ledger.record(vote, None, repr(error))
        return None
    ledger.record(vote, response)
    return response


class VotingRun:
    """Votes cast by `threads` clients at once, in the background, until `join()`."""

    def __init__(self, gateway_url: str, votes: Sequence[Vote], ledger: Ledger, threads: int = 30) -> None:
        self._gateway_url = gateway_url
        self._ledger = ledger
        self._votes: queue.SimpleQueue[Vote] = queue.SimpleQueue()
        for vote in votes:
            self._votes.put(vote)
        self._threads = [threading.Thread(target=self._cast_all, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "VotingRun":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.join()

    def join(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in self._threads), "voting did not finish in time"

    def _cast_all(self) -> None:
        with httpx.Client(base_url=self._gateway_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
            while True:
                try:
                    vote = self._votes.get_nowait()
                except queue.Empty:
                    return
                cast(client, vote, self._ledger)


def vote_all_at_once(gateway_url: str, votes: Sequence[Vote], ledger: Ledger, threads: int = 30) -> None:
    with VotingRun(gateway_url, votes, ledger, threads):
        pass


class CuttableProxy:
    """`tally_testing.TcpProxy` on an event loop of its own, for synchronous tests: a
    process pointed at `url` loses the broker (or database) on `cut()` and finds it again on
    `restore()`."""

    def __init__(self, target_url: str = AMQP_URL) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cuttable-proxy", daemon=True)
        self._thread.start()
        self._proxy = TcpProxy(target_url)
        self.restore()

    @property
    def url(self) -> str:
        return self._proxy.url

    @property
    def connections(self) -> int:
        return self._proxy.connections

    def cut(self) -> None:
        self._run(self._proxy.close)

    def restore(self) -> None:
        self._run(self._proxy.open)

    def shutdown(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _run(self, coroutine_function: Callable) -> None:
        asyncio.run_coroutine_threadsafe(coroutine_function(), self._loop).result(timeout=30)
