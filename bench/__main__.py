"""`python -m bench` (`make bench`), from the repository root.

1. Drops and recreates the database `tally_bench`, migrates it and bulk-loads
   1,000 users, 100,000 posts and 1,000,000 Zipf-skewed votes with COPY.
2. Starts every process of the Procfile on free ports (namespace `tally-bench`).
3. Logs users in, then runs wrk through the gateway: the feeds, search, a post
   by id, POST /vote (with the CPU each process used per request); measures the
   vote propagation lag at a steady 200 votes/s, at 50 votes/s, and under full
   wrk vote load, sampling the event backlog meanwhile. With BENCH_PROFILE=1,
   py-spy profiles the gateway and the posts API under GET /posts.
4. Reloads 10,000 votes instead and repeats the feeds.
5. Stops everything (also on Ctrl-C or failure), deletes its broker queues and
   prints a summary with the targets beside the figures. It asserts nothing.

Every knob is a `BENCH_*` variable (see bench/config.py), e.g. BENCH_DURATION=5.
"""

import asyncio
import importlib.util
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import lag, wrk
from bench.accounts import log_in
from bench.config import CONSUMERS, EVENT_NAMESPACE, ROOT, BenchConfig
from bench.cpu import CpuSnapshot, CpuUse
from bench.dataset import SEARCH_WORDS, Dataset, VoteSpread, load, load_posts_and_votes
from bench.profile import Profile, py_spy, start_recording
from bench.report import FEED_NEW, FEED_TOP, Machine, Results, summary, wrk_line
from bench.stack import Stack
from tally_shared.testing import delete_namespace

WORKDIR = ROOT / "var" / "bench"
# The processes a profile is taken of, under the feed load.
PROFILED = ("gateway", "posts")


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    # After the tokens file, which every script takes first.
    args: tuple[str, ...]


def read_scenarios(config: BenchConfig) -> list[Scenario]:
    return [
        Scenario(FEED_NEW, "read.lua", ("/posts?limit=10",)),
        Scenario(FEED_TOP, "read.lua", ("/posts?limit=10&order=top",)),
        Scenario(
            "GET /posts?limit=10&search=<word>",
            "read.lua",
            ("/posts?limit=10&search={word}", "1", ",".join(SEARCH_WORDS)),
        ),
        Scenario("GET /posts/{random id}", "read.lua", ("/posts/{id}", str(config.posts))),
    ]


def vote_scenario(config: BenchConfig) -> Scenario:
    # Never on the posts kept for the lag measurements.
    return Scenario("POST /vote", "vote.lua", (str(config.lag_posts_from - 1),))


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


class Bench:
    def __init__(self, config: BenchConfig, results: Results, workdir: Path) -> None:
        self.config = config
        self.results = results
        self.workdir = workdir
        self.dataset = Dataset(config)
        self.stack = Stack(workdir)
        self.tokens: dict[int, str] = {}
        self.tokens_file = workdir / "tokens.txt"

    def run_wrk(self, scenario: Scenario, seconds: float | None = None) -> wrk.WrkResult:
        seconds = self.config.duration if seconds is None else seconds
        load = wrk.Load(seconds=seconds, threads=self.config.threads, connections=self.config.connections)
        return wrk.run(self.stack.gateway_url, scenario.script, [str(self.tokens_file), *scenario.args], load)

    def measure(self, scenario: Scenario, label: str) -> wrk.WrkResult:
        """A warm-up run, then the measured one; prints and keeps its figures and who used the CPU."""
        if self.config.warmup > 0:
            self.run_wrk(scenario, self.config.warmup)
        before = CpuSnapshot.take(self.stack.pids())
        result = self.run_wrk(scenario)
        cpu = CpuUse.between(before, CpuSnapshot.take(self.stack.pids())).per_request(result.requests)
        self.results.cpu_per_request[label] = cpu
        print(wrk_line(label, result), flush=True)
        print(f"  CPU per request: {cpu}", flush=True)
        return result

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
        step(f"logging in {config.logged_in_users} users")
        started = time.perf_counter()
        self.tokens = asyncio.run(log_in(self.stack.gateway_url, list(range(1, config.logged_in_users + 1))))
        self.tokens_file.write_text("\n".join(self.tokens.values()) + "\n")
        print(f"{len(self.tokens)} tokens in {time.perf_counter() - started:.1f} s", flush=True)

        step(f"reads at {config.votes:,} votes")
        for scenario in read_scenarios(config):
            results.reads[scenario.name] = self.measure(scenario, scenario.name)
        if config.profile:
            self.profile(read_scenarios(config)[0])

        step("votes")
        results.votes = self.measure(vote_scenario(config), "POST /vote")

        self.measure_lag()

        step(f"reloading with {config.small_votes:,} votes instead (stack stopped)")
        self.stack.stop()
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

    def start_stack(self) -> None:
        step("starting the stack")
        started = time.perf_counter()
        self.stack.start()
        print(f"ready in {time.perf_counter() - started:.1f} s at {self.stack.gateway_url}", flush=True)

    def measure_lag(self) -> None:
        config, results = self.config, self.results
        reserved = lag.ReservedPosts(config, sorted(self.tokens), random.Random(config.seed))
        for rate in (config.lag_rate, config.light_lag_rate):
            step(f"vote propagation lag at a steady {rate:g} votes/s for {config.lag_duration:g} s")
            asyncio.run(lag.wait_until_drained())
            steady = asyncio.run(lag.steady_lag(self.stack.gateway_url, config, self.tokens, reserved, rate))
            results.steady.append(steady)
            record = steady.record
            print(
                f"{len(record.lags)} votes followed: p50 {record.p50_ms:.1f} ms, p99 {record.p99_ms:.1f} ms, "
                f"max {record.max_ms:.0f} ms, not seen {record.not_seen}; {steady.achieved_rate:.0f} votes/s "
                f"answered 201 over {steady.seconds:.1f} s, POST /vote p50 {record.vote_latency_ms(50):.1f} ms, "
                f"p99 {record.vote_latency_ms(99):.1f} ms; statuses {record.statuses}",
                flush=True,
            )

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


def _stop_on_sigterm() -> None:
    """A SIGTERM ends the run like a Ctrl-C: through the `finally` that stops the stack."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    _stop_on_sigterm()
    config = BenchConfig.from_environment()
    if missing := missing_requirements(config):
        print("python -m bench needs:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    machine = Machine.describe()
    print(machine, flush=True)
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
    if not succeeded:
        return 130
    print(summary(results))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
