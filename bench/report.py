"""The machine the figures come from, and the summary table with the targets beside the figures."""

import os
import platform
import subprocess
from dataclasses import dataclass, field

from bench.config import ROOT, BenchConfig
from bench.lag import SaturatedLag, SteadyLag
from bench.wrk import WrkResult

# The targets, printed beside the figures; nothing fails when one is missed.
FEED_MIN_RPS = 650
FEED_MAX_P99_MS = 50
SMALL_DATASET_MAX_SPEEDUP = 1.10
VOTES_MIN_PER_SECOND = 600
STEADY_LAG_MAX_P99_MS = 150

FEED_NEW = "GET /posts?limit=10"
FEED_TOP = "GET /posts?limit=10&order=top"
FEEDS = (FEED_NEW, FEED_TOP)


def _first_line_with(path: str, key: str) -> str:
    try:
        with open(path) as file:
            for line in file:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


@dataclass(frozen=True)
class Machine:
    cpus: int
    cpu_model: str
    memory_gib: float
    python: str
    commit: str
    uncommitted_changes: bool
    load_average_at_start: float

    @classmethod
    def describe(cls) -> "Machine":
        memory_kib = _first_line_with("/proc/meminfo", "MemTotal").split()[0]
        return cls(
            cpus=len(os.sched_getaffinity(0)),
            cpu_model=_first_line_with("/proc/cpuinfo", "model name"),
            memory_gib=int(memory_kib) / 1024 / 1024 if memory_kib.isdigit() else float("nan"),
            python=platform.python_version(),
            commit=_git("rev-parse", "--short", "HEAD") or "unknown",
            uncommitted_changes=bool(_git("status", "--porcelain", "--untracked-files=no")),
            load_average_at_start=os.getloadavg()[0],
        )

    def __str__(self) -> str:
        changes = " (plus uncommitted changes)" if self.uncommitted_changes else ""
        return (
            f"machine: {self.cpus} CPUs ({self.cpu_model}), {self.memory_gib:.0f} GiB RAM, Python {self.python}; "
            f"commit {self.commit}{changes}; load average at start {self.load_average_at_start:.2f}"
        )


@dataclass
class Results:
    config: BenchConfig
    machine: Machine
    dataset: str = ""
    small_dataset: str = ""
    load_seconds: float = 0.0
    reads: dict[str, WrkResult] = field(default_factory=dict)
    small_reads: dict[str, WrkResult] = field(default_factory=dict)
    votes: WrkResult | None = None
    # Who used how much CPU per request during each measured wrk run, by the scenario's label.
    cpu_per_request: dict[str, str] = field(default_factory=dict)
    steady: list[SteadyLag] = field(default_factory=list)
    saturated: SaturatedLag | None = None


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [_row(header, widths), _row(["-" * width for width in widths], widths)]
    lines += [_row(row, widths) for row in rows]
    return "\n".join(lines)


def wrk_line(name: str, result: WrkResult) -> str:
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result.statuses.items()))
    return (
        f"{name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p90 {result.p90_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, max {result.max_ms:.0f} ms, non-2xx {result.non_2xx}, "
        f"socket errors {result.socket_errors}" + (f" ({statuses})" if statuses else "")
    )


def _feed_target(result: WrkResult) -> tuple[str, str]:
    met = result.rps >= FEED_MIN_RPS and result.p99_ms < FEED_MAX_P99_MS
    return f">= {FEED_MIN_RPS} req/s, p99 < {FEED_MAX_P99_MS} ms", _verdict(met)


def summary(results: Results) -> str:
    config = results.config
    out = ["", "=" * 100, "SUMMARY", "=" * 100, str(results.machine)]
    out.append(
        f"load: {config.threads} wrk threads, {config.connections} connections, "
        f"{config.duration:g} s per scenario after a {config.warmup:g} s warm-up"
    )
    out.append(f"dataset: {results.dataset} (loaded in {results.load_seconds:.1f} s)")
    if results.small_dataset:
        out.append(f"small dataset: {results.small_dataset}")
    out.append("")

    rows = []
    for name, result in results.reads.items():
        target, verdict = _feed_target(result) if name in FEEDS else ("", "")
        rows.append(
            [
                name,
                f"{result.rps:,.0f}",
                f"{result.p50_ms:.1f}",
                f"{result.p99_ms:.1f}",
                str(result.non_2xx + result.socket_errors),
                target,
                verdict,
            ]
        )
    if results.votes is not None:
        votes = results.votes
        rejected = votes.non_2xx + votes.socket_errors - votes.statuses.get(409, 0)
        rows.append(
            [
                "POST /vote (201 = new vote)",
                f"{votes.rate_of(201):,.0f}/s",
                f"{votes.p50_ms:.1f}",
                f"{votes.p99_ms:.1f}",
                str(rejected),
                f">= {VOTES_MIN_PER_SECOND} votes/s",
                _verdict(votes.rate_of(201) >= VOTES_MIN_PER_SECOND),
            ]
        )
        rows.append(["  of which 409 (already voted)", f"{votes.rate_of(409):,.0f}/s", "", "", "", "", ""])
    for name, result in results.small_reads.items():
        big = results.reads.get(name)
        ratio = result.rps / big.rps if big else float("nan")
        rows.append(
            [
                f"{name} at {config.small_votes:,} votes",
                f"{result.rps:,.0f}",
                f"{result.p50_ms:.1f}",
                f"{result.p99_ms:.1f}",
                str(result.non_2xx + result.socket_errors),
                f"{ratio:.2f}x the {config.votes:,}-vote rate; <= {SMALL_DATASET_MAX_SPEEDUP:.2f}x",
                _verdict(ratio <= SMALL_DATASET_MAX_SPEEDUP),
            ]
        )
    out.append(_table(["scenario", "req/s", "p50 ms", "p99 ms", "errors", "target", ""], rows))
    out.append("errors: responses of 400 or more and socket errors; for POST /vote, other than 409.")
    if results.cpu_per_request:
        out.append("")
        out.append("CPU milliseconds per request, by process ('others': the rest of the machine):")
        out += [f"  {label}: {line}" for label, line in results.cpu_per_request.items()]

    out.append("")
    lag_rows = []
    for steady in results.steady:
        record = steady.record
        # The target is about the target's rate; the other stream is there for comparison.
        at_target_rate = steady.rate == config.lag_rate
        lag_rows.append(
            [
                f"steady {steady.rate:g} votes/s offered ({steady.achieved_rate:,.0f}/s got 201)",
                str(len(record.lags)),
                f"{record.p50_ms:.1f}",
                f"{record.p99_ms:.1f}",
                f"{record.max_ms:.0f}",
                str(record.not_seen),
                f"p99 < {STEADY_LAG_MAX_P99_MS} ms" if at_target_rate else "",
                _verdict(record.p99_ms < STEADY_LAG_MAX_P99_MS and record.not_seen == 0) if at_target_rate else "",
            ]
        )
    if results.saturated is not None:
        saturated = results.saturated
        record = saturated.record
        lag_rows.append(
            [
                f"saturated: wrk POST /vote, {saturated.load.rate_of(201):,.0f} votes/s",
                str(len(record.lags)),
                f"{record.p50_ms:.1f}",
                f"{record.p99_ms:.1f}",
                f"{record.max_ms:.0f}",
                str(record.not_seen),
                "",
                "",
            ]
        )
    if lag_rows:
        out.append("vote propagation lag: from the 201 of POST /vote to the count in GET /posts/{id}")
        out.append(_table(["load", "samples", "p50 ms", "p99 ms", "max ms", "not seen", "target", ""], lag_rows))
    if results.saturated is not None:
        backlog = results.saturated.backlog
        drained = f"{backlog.drain_seconds:.1f} s" if backlog.drain_seconds is not None else "not within the timeout"
        out.append(
            f"backlog under the saturated vote load, sampled each second: votes outbox unpublished max "
            f"{max(backlog.outbox, default=0):,}, at the end {backlog.outbox_at_end:,}; posts queue ready max "
            f"{max(backlog.queue, default=0):,}, at the end {backlog.queue_at_end:,}; drained {drained} after the load"
        )
    return "\n".join(out)
