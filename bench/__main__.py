"""`python -m bench` (`make bench`), from the repository root.

1. Drops and recreates the database `tally_bench`, migrates it and bulk-loads
   1,000 users, 100,000 posts and 1,000,000 Zipf-skewed votes with COPY.
2. Starts every process of the Procfile on free ports (namespace `tally-bench`),
   with the database driver of BENCH_DATABASE_DRIVER.
3. Logs every user in, then runs wrk through the gateway: the feeds, search for
   a common word and for a word in no title, a post by id, a page 10,000 posts
   deep by cursor in each order, POST /vote (with the CPU each process used per request), every
   user voting on one hot post; measures the vote propagation lag at half the
   new votes/s POST /vote reached, at a steady 200 and 50 votes/s, and under full
   wrk vote load, sampling the event backlog meanwhile; then an open-loop stream
   of POST /vote at twice that capacity. After each scenario, every HTTP process
   must answer /readyz within 1 s. With BENCH_PROFILE=1, py-spy profiles the
   gateway and the posts API under GET /posts.
4. Stops the stack and measures the yardstick: a trivial FastAPI app on one
   uvicorn process, under the wrk load of the reads. The targets are ratios to it.
5. Reloads 10,000 votes instead, restarts the stack and repeats the feeds.
   Then (unless BENCH_LARGE_POSTS=0) reloads ten times the data, 1,000,000 posts
   and 10,000,000 votes, and repeats every read: do they stay flat as it grows?
6. Stops everything (also on Ctrl-C or failure), deletes its broker queues and
   prints a summary with the targets beside the figures. It asserts nothing,
   but says loudly when a process was not ready, a request got no answer, a 5xx
   other than a 503 came back, or a process logged an error.

Every knob is a `BENCH_*` variable (see bench/config.py), e.g. BENCH_DURATION=5.
"""

import asyncio
import contextlib
import importlib.util
import os
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg2
from sqlalchemy.engine import make_url

from bench import lag, overload, wrk
from bench.accounts import log_in
from bench.config import CONSUMERS, DATABASE, EVENT_NAMESPACE, ROOT, BenchConfig
from bench.cpu import CpuSnapshot, CpuUse
from bench.dataset import RARE_WORDS, SEARCH_WORDS, Dataset, VoteSpread, load, load_posts_and_votes
from bench.profile import Profile, py_spy, start_recording
from bench.report import (
    DEEP_NEW,
    DEEP_TOP,
    FEED_NEW,
    FEED_TOP,
    HOT_POST,
    LAG_TARGET_SHARE_OF_CAPACITY,
    POST_BY_ID,
    SEARCH_COMMON,
    SEARCH_RARE,
    TARGET_LAG_LABEL,
    TRIVIAL,
    Machine,
    Results,
    overload_lines,
    statuses_text,
    summary,
    wrk_line,
)
from bench.stack import Readiness, Stack, trivial_app
from tally_shared.db import setup as dbsetup
from tally_testing import delete_namespace

WORKDIR = ROOT / "var" / "bench"
# The processes a profile is taken of, under the feed load.
PROFILED = ("gateway", "posts")
# The random load's tokens (BENCH_LOGGED_IN_USERS), and every user's with their first vote on the hot post.
TOKENS_FILE = "tokens.txt"
HOT_TOKENS_FILE = "hot-tokens.txt"
# After a process was not ready, how long the bench waits for it before it goes on anyway.
RECOVERY_TIMEOUT_SECONDS = 30.0
# The counter of the requests a process turned away at once, being at its `max_requests_in_flight`.
SHED_METRIC = "http_requests_shed_total"
# wrk stops with votes in flight, which the stack still answers (and may commit): after a
# run on the hot post, the bench waits this long before it reads who has voted on it. A vote
# waits at most 2 s for a database connection, then takes milliseconds.
HOT_SETTLE_SECONDS = 5.0
# After the events are drained, how long the hot post's count may take to show the last batch.
HOT_COUNT_SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    # After the tokens file, which every script takes first.
    args: tuple[str, ...]
    # In the workdir.
    tokens: str = TOKENS_FILE
    # When not BENCH_CONNECTIONS.
    connections: int | None = None


def read_scenarios(config: BenchConfig) -> list[Scenario]:
    return [
        Scenario(FEED_NEW, "read.lua", ("/posts?limit=10",)),
        Scenario(FEED_TOP, "read.lua", ("/posts?limit=10&order=top",)),
        Scenario(SEARCH_COMMON, "read.lua", ("/posts?limit=10&search={word}", "1", ",".join(SEARCH_WORDS))),
        Scenario(SEARCH_RARE, "read.lua", ("/posts?limit=10&search={word}", "1", ",".join(RARE_WORDS))),
        Scenario(POST_BY_ID, "read.lua", ("/posts/{id}", str(config.posts))),
    ]


def vote_scenario(config: BenchConfig) -> Scenario:
    # Never on the posts kept for the lag measurements and the hot post.
    return Scenario("POST /vote", "vote.lua", (str(config.lag_posts_from - 1),))


def hot_post_scenario(config: BenchConfig) -> Scenario:
    return Scenario(
        HOT_POST,
        "hot_vote.lua",
        (str(config.hot_post_id), str(config.threads)),
        tokens=HOT_TOKENS_FILE,
        connections=config.hot_connections,
    )


TRIVIAL_SCENARIO = Scenario(TRIVIAL, "read.lua", ("/hello",))


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


class Bench:
    def __init__(self, config: BenchConfig, results: Results, workdir: Path) -> None:
        self.config = config
        self.results = results
        self.workdir = workdir
        self.dataset = Dataset(config)
        self.stack = Stack(workdir, config)
        # The users whose tokens the random load uses, and every user of the dataset.
        self.tokens: dict[int, str] = {}
        self.all_tokens: dict[int, str] = {}
        # Exits already reported.
        self.exited: set[str] = set()

    def run_wrk(self, scenario: Scenario, seconds: float | None = None, url: str | None = None) -> wrk.WrkResult:
        """wrk through the gateway (or at `url`) for `seconds` (BENCH_DURATION by default)."""
        seconds = self.config.duration if seconds is None else seconds
        connections = scenario.connections or self.config.connections
        load = wrk.Load(seconds=seconds, threads=self.config.threads, connections=connections)
        if scenario.tokens == HOT_TOKENS_FILE:
            # The votes a previous run (the warm-up) left unanswered change what each user's next must be.
            time.sleep(HOT_SETTLE_SECONDS)
            self.write_hot_tokens()
        tokens = self.workdir / scenario.tokens
        return wrk.run(url or self.stack.gateway_url, scenario.script, [str(tokens), *scenario.args], load)

    def measure(
        self, scenario: Scenario, label: str, *, url: str | None = None, pids: dict[str, int] | None = None
    ) -> wrk.WrkResult:
        """A warm-up run, then the measured one; prints and keeps its figures and who used the CPU.
        Through the gateway, then checks the answers and every process's readiness; else at `url`,
        whose processes are `pids`."""
        pids = pids or self.stack.pids()
        if self.config.warmup > 0:
            self.run_wrk(scenario, self.config.warmup, url)
        before = CpuSnapshot.take(pids)
        result = self.run_wrk(scenario, url=url)
        cpu = CpuUse.between(before, CpuSnapshot.take(pids)).per_request(result.requests)
        self.results.cpu_per_request[label] = cpu
        print(wrk_line(label, result), flush=True)
        print(f"  CPU per request: {cpu}", flush=True)
        if url is None:
            self.check_answers(label, result.statuses, result.socket_errors, "wrk socket errors")
            self.check_ready(label)
        return result

    def cursor_scenarios(self) -> list[Scenario]:
        """A page `cursor_depth` posts deep in each order, by the cursor a walk there is given."""
        return [
            Scenario(DEEP_NEW, "read.lua", (self.deep_page("new"),)),
            Scenario(DEEP_TOP, "read.lua", (self.deep_page("top"),)),
        ]

    def deep_page(self, order: str) -> str:
        """The path of the page of 10 `cursor_depth` posts deep, walked to by the Link headers, 100 at a time."""
        page_size = 100
        token = next(iter(self.tokens.values()))
        path = f"/posts?limit={page_size}&order={order}"
        with httpx.Client(
            base_url=self.stack.gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            for _ in range(self.config.cursor_depth // page_size):
                response = client.get(path)
                response.raise_for_status()
                link = response.headers["link"]
                path = link[1 : link.index(">")]
        return str(httpx.URL(path).copy_set_param("limit", 10))

    def write_hot_tokens(self) -> None:
        """Every user's token with their first vote on the hot post: a retraction if they have voted on it."""
        voted = {
            user_id
            for (user_id,) in lag.query(
                "votes", "SELECT user_id FROM votes.votes WHERE post_id = %s", (self.config.hot_post_id,)
            )
        }
        lines = [f"{token} {0 if user_id in voted else 1}\n" for user_id, token in self.all_tokens.items()]
        (self.workdir / HOT_TOKENS_FILE).write_text("".join(lines))

    # ---- what must not happen ----

    def check_answers(self, label: str, statuses: dict[int, int], unanswered: int, how: str) -> None:
        """Loudly: requests without an answer, and 5xx answers other than a shed request's 503."""
        if unanswered:
            self.results.alarm(f"{label}: {unanswered} request(s) got no answer ({how})")
        errors = {status: count for status, count in statuses.items() if status >= 500 and status != 503}
        if errors:
            self.results.alarm(f"{label}: answered {statuses_text(errors)}")

    def check_ready(self, label: str) -> list[Readiness]:
        """Every HTTP process's /readyz, each of which must answer 200 within 1 s, and every process
        still running; loudly if not, then waits (a while) for the stack to be ready again."""
        readiness = self.stack.readiness()
        for name, code in self.stack.exited().items():
            if name not in self.exited:
                self.exited.add(name)
                self.results.alarm(f"after {label}: {name} exited with {code}")
        not_ready = [answer for answer in readiness if not answer.ready]
        for answer in not_ready:
            self.results.alarm(f"after {label}: {answer.name} is not ready ({answer})")
        if not_ready:
            self.wait_until_ready_again(label)
        return readiness

    def wait_until_ready_again(self, label: str) -> None:
        started = time.perf_counter()
        while time.perf_counter() - started < RECOVERY_TIMEOUT_SECONDS:
            time.sleep(0.5)
            if all(answer.ready for answer in self.stack.readiness()):
                print(f"  every process ready again {time.perf_counter() - started:.1f} s later", flush=True)
                return
        still = "; ".join(f"{answer.name} {answer}" for answer in self.stack.readiness() if not answer.ready)
        self.results.alarm(f"after {label}: still not ready {RECOVERY_TIMEOUT_SECONDS:g} s later: {still}")

    def describe(self, votes: int) -> str:
        spread = VoteSpread.of(self.dataset.vote_counts(votes))
        return f"{self.config.users:,} users, {self.config.posts:,} posts, {spread}"

    # ---- the phases ----

    def run(self) -> None:
        config, results = self.config, self.results
        # Queues left by an interrupted run would feed stale events to the new workers.
        asyncio.run(delete_namespace(EVENT_NAMESPACE, CONSUMERS))

        step(f"loading the dataset into tally_bench: {self.describe(config.votes)}")
        results.dataset = self.describe(config.votes)
        results.load_seconds = load(self.dataset)
        print(f"loaded in {results.load_seconds:.1f} s", flush=True)

        self.start_stack()
        step(f"logging in all {config.users:,} users")
        started = time.perf_counter()
        self.all_tokens = asyncio.run(log_in(self.stack.gateway_url, list(self.dataset.user_ids)))
        self.tokens = {user_id: self.all_tokens[user_id] for user_id in range(1, config.logged_in_users + 1)}
        (self.workdir / TOKENS_FILE).write_text("\n".join(self.tokens.values()) + "\n")
        print(
            f"{len(self.all_tokens)} tokens in {time.perf_counter() - started:.1f} s; the random load uses "
            f"those of the first {len(self.tokens)} users",
            flush=True,
        )
        self.check_ready("the logins")

        step(f"reads at {config.votes:,} votes")
        for scenario in read_scenarios(config) + self.cursor_scenarios():
            results.reads[scenario.name] = self.measure(scenario, scenario.name)
        if config.profile:
            self.profile(read_scenarios(config)[0])

        step("votes")
        results.votes = self.measure(vote_scenario(config), "POST /vote")
        self.measure_hot_post()

        self.measure_lag()
        self.measure_overload()

        self.stack.stop()
        step("the yardstick: a trivial FastAPI app on one uvicorn process, the stack stopped")
        with trivial_app(self.stack.logs_dir) as (url, pid):
            results.trivial = self.measure(TRIVIAL_SCENARIO, TRIVIAL, url=url, pids={"trivial-app": pid})

        step(f"reloading with {config.small_votes:,} votes instead (stack stopped)")
        asyncio.run(delete_namespace(EVENT_NAMESPACE, CONSUMERS))
        started = time.perf_counter()
        load_posts_and_votes(self.dataset, config.small_votes, replace=True)
        results.small_dataset = self.describe(config.small_votes)
        print(f"reloaded in {time.perf_counter() - started:.1f} s: {results.small_dataset}", flush=True)
        self.start_stack()
        step(f"reads at {config.small_votes:,} votes")
        for scenario in read_scenarios(config)[:2]:
            label = f"{scenario.name} at {config.small_votes:,} votes"
            results.small_reads[scenario.name] = self.measure(scenario, label)
        if config.large_posts:
            self.measure_large()

    def measure_large(self) -> None:
        """The reads again, at ten times the posts and votes: do they stay flat as the data grows?"""
        large, results = self.config.large(), self.results
        self.stack.stop()
        dataset = Dataset(large)
        results.large_dataset = (
            f"{large.users:,} users, {large.posts:,} posts, {VoteSpread.of(dataset.vote_counts(large.votes))}"
        )
        step(f"reloading with {large.posts:,} posts and {large.votes:,} votes instead (stack stopped)")
        asyncio.run(delete_namespace(EVENT_NAMESPACE, CONSUMERS))
        started = time.perf_counter()
        load_posts_and_votes(dataset, large.votes, replace=True)
        results.large_load_seconds = time.perf_counter() - started
        print(f"reloaded in {results.large_load_seconds:.1f} s: {results.large_dataset}", flush=True)
        self.start_stack()
        step(f"reads at {large.posts:,} posts and {large.votes:,} votes")
        for scenario in read_scenarios(large) + self.cursor_scenarios():
            label = f"{scenario.name} at {large.posts:,} posts"
            results.large_reads[scenario.name] = self.measure(scenario, label)

    def start_stack(self) -> None:
        step("starting the stack")
        started = time.perf_counter()
        self.stack.start()
        print(f"ready in {time.perf_counter() - started:.1f} s at {self.stack.gateway_url}", flush=True)

    def measure_hot_post(self) -> None:
        """Every user votes on the hot post, in turn, cast then retracted...; then, once the events
        are applied, the post's count must be its number of votes."""
        config, results = self.config, self.results
        step(f"votes on one hot post (id {config.hot_post_id}) by all {len(self.all_tokens):,} users")
        results.hot_post = self.measure(hot_post_scenario(config), HOT_POST)
        time.sleep(HOT_SETTLE_SECONDS)
        if asyncio.run(lag.wait_until_drained()) is None:
            results.alarm(f"{HOT_POST}: the vote events were not applied within {lag.DRAIN_TIMEOUT_SECONDS:g} s")
        hot = config.hot_post_id
        votes = lag.query("votes", "SELECT count(*) FROM votes.votes WHERE post_id = %s", (hot,))[0][0]
        # Drained means no event waits; the worker may still be applying the last batch it took.
        deadline = time.perf_counter() + HOT_COUNT_SETTLE_SECONDS
        while True:
            count = lag.query("posts", "SELECT votes FROM posts.posts WHERE id = %s", (hot,))[0][0]
            if count == votes or time.perf_counter() > deadline:
                break
            time.sleep(0.2)
        results.hot_post_count = (count, votes)
        print(f"  once its events were applied: count {count:,}, votes {votes:,}", flush=True)
        if count != votes:
            results.alarm(f"{HOT_POST}: the post's count is {count:,} but it has {votes:,} votes")

    def measure_lag(self) -> None:
        config, results = self.config, self.results
        reserved = lag.ReservedPosts(config, sorted(self.tokens), random.Random(config.seed))
        streams = [
            (TARGET_LAG_LABEL, results.capacity * LAG_TARGET_SHARE_OF_CAPACITY),
            ("fixed", config.lag_rate),
            ("light", config.light_lag_rate),
        ]
        for label, rate in streams:
            if rate <= 0:
                results.alarm(f"lag at {label}: no rate to measure it at ({rate:g} votes/s)")
                continue
            step(f"vote propagation lag at a steady {rate:,.0f} votes/s ({label}) for {config.lag_duration:g} s")
            asyncio.run(lag.wait_until_drained())
            steady = asyncio.run(lag.steady_lag(self.stack.gateway_url, config, self.tokens, reserved, rate, label))
            results.steady.append(steady)
            record = steady.record
            print(
                f"{len(record.lags)} votes followed: p50 {record.p50_ms:.1f} ms, p99 {record.p99_ms:.1f} ms, "
                f"max {record.max_ms:.0f} ms, not seen {record.not_seen}; {steady.achieved_rate:.0f} votes/s "
                f"answered 201 over {steady.seconds:.1f} s, POST /vote p50 {record.vote_latency_ms(50):.1f} ms, "
                f"p99 {record.vote_latency_ms(99):.1f} ms; statuses {record.statuses}",
                flush=True,
            )
            self.check_lag_record(f"lag stream at {rate:,.0f} votes/s", record)
            self.check_ready(f"the lag stream at {rate:,.0f} votes/s")

        step("vote propagation lag under full-speed POST /vote load")
        asyncio.run(lag.wait_until_drained())
        results.saturated = asyncio.run(
            lag.saturated_lag(
                self.stack.gateway_url,
                config,
                self.tokens,
                reserved,
                lambda: self.run_wrk(vote_scenario(config)),
            )
        )
        saturated = results.saturated
        print(wrk_line("POST /vote (saturating)", saturated.load), flush=True)
        print(
            f"{len(saturated.record.lags)} votes followed: p50 {saturated.record.p50_ms:.1f} ms, "
            f"p99 {saturated.record.p99_ms:.1f} ms, not seen {saturated.record.not_seen}; "
            f"outbox backlog per second {saturated.backlog.outbox}; posts queue per second {saturated.backlog.queue}",
            flush=True,
        )
        label = "POST /vote (saturating)"
        self.check_answers(label, saturated.load.statuses, saturated.load.socket_errors, "wrk socket errors")
        self.check_lag_record(f"{label}, the followed votes", saturated.record)
        self.check_ready(label)

    def check_lag_record(self, label: str, record: lag.LagRecord) -> None:
        self.check_answers(label, record.statuses, record.statuses.get(0, 0), "client errors or timeouts")
        if record.not_seen:
            self.results.alarm(
                f"{label}: {record.not_seen} vote(s) answered 201 never showed in the count "
                f"within {lag.VISIBILITY_TIMEOUT_SECONDS:g} s"
            )

    def measure_overload(self) -> None:
        """An open-loop POST /vote stream at twice the capacity, then every process's readiness at once."""
        config, results = self.config, self.results
        capacity = results.capacity
        if capacity <= 0:
            results.alarm("overload: not measured, POST /vote reached no new votes")
            return
        step(
            f"overload: open-loop POST /vote at {2 * capacity:,.0f}/s (2x the {capacity:,.0f} new votes/s "
            f"POST /vote reached) for {config.overload_duration:g} s"
        )
        asyncio.run(lag.wait_until_drained())
        shed_before = self.stack.metric(SHED_METRIC)
        before = CpuSnapshot.take(self.stack.pids())
        stream = overload.overload(
            self.stack.gateway_url,
            list(self.tokens.values()),
            config.lag_posts_from - 1,
            capacity,
            config.overload_duration,
            random.Random(config.seed),
        )
        result = asyncio.run(stream)
        result.readiness_after = self.check_ready("the overload")
        cpu = CpuUse.between(before, CpuSnapshot.take(self.stack.pids())).per_request(result.sent)
        result.shed_at_once = {
            name: round(after - shed_before[name])
            for name, after in self.stack.metric(SHED_METRIC).items()
            if after is not None and shed_before[name] is not None
        }
        results.cpu_per_request["overload (the bench's own client in others)"] = cpu
        results.overload = result
        for line in overload_lines(result):
            print(f"  {line}", flush=True)
        print(f"  CPU per request: {cpu}", flush=True)
        self.check_answers("the overload", result.statuses, result.unanswered_total, "client errors or timeouts")

    def profile(self, scenario: Scenario) -> None:
        """py-spy on the gateway and the posts API while wrk runs `scenario` (not the measured run:
        sampling slows a process down)."""
        step(f"profiling {', '.join(PROFILED)} under {scenario.name}")
        seconds = self.config.duration
        outputs = {name: self.workdir / f"profile-{name}.txt" for name in PROFILED}
        recordings = {name: start_recording(self.stack.pid(name), seconds, outputs[name]) for name in PROFILED}
        result = self.run_wrk(scenario, seconds + 1)
        print(wrk_line(f"{scenario.name} (profiled)", result), flush=True)
        for name, recording in recordings.items():
            recording.wait(timeout=60)
            print(Profile.read(outputs[name]).report(f"{name} (pid {self.stack.pid(name)})"), flush=True)
            print(f"  raw stacks: {outputs[name]}", flush=True)


def missing_requirements(config: BenchConfig) -> list[str]:
    """What must be installed first, and how."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk (apt-get install wrk; `make bench` does it)")
    if importlib.util.find_spec("tqdm") is None:
        missing.append("tqdm (.venv/bin/pip install -r bench/requirements.txt)")
    if config.profile and py_spy() is None:
        missing.append("py-spy, for BENCH_PROFILE (.venv/bin/pip install py-spy)")
    return missing


def sessions_on_bench_database() -> int:
    """Sessions connected to `tally_bench` right now. Any is another run's stack (from this checkout
    or another): every run uses the same database and broker namespace, and would wreck the other's."""
    admin_url = make_url(os.environ.get("TALLY_ADMIN_DATABASE_URL", dbsetup.DEFAULT_ADMIN_URL))
    dsn = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with contextlib.closing(psycopg2.connect(dsn)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (DATABASE,))
        return cursor.fetchone()[0]


def _stop_on_sigterm() -> None:
    """A SIGTERM ends the run like a Ctrl-C: through the `finally` that stops the stack."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    _stop_on_sigterm()
    try:
        config = BenchConfig.from_environment()
    except ValueError as error:
        print(f"python -m bench: {error}", file=sys.stderr)
        return 2
    if missing := missing_requirements(config):
        print("python -m bench needs:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    if sessions := sessions_on_bench_database():
        print(
            f"python -m bench: {sessions} session(s) on the database {DATABASE}: another benchmark is running "
            f"(maybe from another checkout); wait until it ends",
            file=sys.stderr,
        )
        return 2
    machine = Machine.describe()
    print(machine, flush=True)
    print(f"the services reach PostgreSQL with {config.database_driver} (BENCH_DATABASE_DRIVER)", flush=True)
    if machine.load_average_at_start > 1:
        print("warning: the machine is busy with something else; the figures will be lower", flush=True)
    results = Results(config, machine)
    # The processes' logs, the signing keys and the tokens of this run, kept until the next run.
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    bench = Bench(config, results, WORKDIR)
    started = time.perf_counter()
    succeeded = False
    try:
        bench.run()
        succeeded = True
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the stack", file=sys.stderr, flush=True)
    finally:
        bench.stack.stop()
        asyncio.run(delete_namespace(EVENT_NAMESPACE, CONSUMERS))
        print(f"\nthe processes' logs: {bench.stack.logs_dir}", file=sys.stderr)
    for name, (count, first) in bench.stack.log_errors().items():
        results.alarm(f"{name}.log has {count} ERROR/CRITICAL line(s) or traceback(s); the first: {first}")
    if not succeeded:
        return 130
    print(summary(results))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
