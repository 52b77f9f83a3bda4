"""The machine the figures come from, and the summary table with the targets beside the figures."""

import os
import platform
import subprocess
from dataclasses import dataclass, field

from bench.config import ROOT, SERVICE_URL_SCHEMES, BenchConfig
from bench.lag import SaturatedLag, SteadyLag
from bench.overload import GOODPUT_STATUSES, Overload
from bench.wrk import WrkResult

FEED_NEW = "GET /posts?limit=10"
FEED_TOP = "GET /posts?limit=10&order=top"
SEARCH_COMMON = "GET /posts?limit=10&search=<common word>"
SEARCH_RARE = "GET /posts?limit=10&search=<word in no title>"
DEEP_NEW = "GET /posts?limit=10&cursor=<deep>"
DEEP_TOP = "GET /posts?limit=10&order=top&cursor=<deep>"
POST_BY_ID = "GET /posts/{random id}"
TRIVIAL = "trivial app: GET /hello"
HOT_POST = "POST /vote on one hot post"

# The targets, printed beside the figures; nothing fails when one is missed. Throughputs are
# ratios to the trivial app's (one uvicorn process, same wrk load), measured in the same run.
MIN_RATIO_TO_TRIVIAL = {FEED_NEW: 0.30, FEED_TOP: 0.30, POST_BY_ID: 0.35}
VOTES_MIN_RATIO_TO_TRIVIAL = 0.20
HOT_POST_MIN_RATIO_TO_TRIVIAL = 0.15
OVERLOAD_MIN_SHARE_OF_CAPACITY = 0.90
# The lag target is at this share of the new votes/s POST /vote reached.
LAG_TARGET_SHARE_OF_CAPACITY = 0.5
TARGET_LAG_LABEL = "half the vote capacity"
STEADY_LAG_MAX_P99_MS = 150
SMALL_DATASET_MAX_SPEEDUP = 1.10
# Reads that stay flat as the data grows (issue 12): each read at the large size against the
# base size, a rare-word search against the plain feed, a deep page by cursor against the first.
SCALED_READS = (FEED_NEW, FEED_TOP, SEARCH_RARE, SEARCH_COMMON, POST_BY_ID, DEEP_NEW, DEEP_TOP)
LARGE_MIN_RATIO = 0.90
# (read, what it is compared with, minimum ratio), at each size.
READ_PAIRS = ((SEARCH_RARE, FEED_NEW, 0.80), (DEEP_NEW, FEED_NEW, 0.90), (DEEP_TOP, FEED_TOP, 0.90))


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
    trivial: WrkResult | None = None
    reads: dict[str, WrkResult] = field(default_factory=dict)
    small_reads: dict[str, WrkResult] = field(default_factory=dict)
    large_dataset: str = ""
    large_load_seconds: float = 0.0
    large_reads: dict[str, WrkResult] = field(default_factory=dict)
    votes: WrkResult | None = None
    hot_post: WrkResult | None = None
    # The hot post's count in the posts service once its events were applied, and its votes.
    hot_post_count: tuple[int, int] | None = None
    # Who used how much CPU per request during each measured run, by the scenario's label.
    cpu_per_request: dict[str, str] = field(default_factory=dict)
    steady: list[SteadyLag] = field(default_factory=list)
    saturated: SaturatedLag | None = None
    overload: Overload | None = None
    # What went wrong on the way (a process not ready, requests without an answer, 5xx), in order.
    alarms: list[str] = field(default_factory=list)

    def alarm(self, line: str) -> None:
        """Printed at once, loudly, and again in the summary."""
        self.alarms.append(line)
        print(f"!!! {line}", flush=True)

    @property
    def capacity(self) -> float:
        """New votes/s that wrk's POST /vote reached: what the overload and the lag target are relative to."""
        return self.votes.rate_of(201) if self.votes is not None else 0.0


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


def statuses_text(statuses: dict[int, int]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))


def wrk_line(name: str, result: WrkResult) -> str:
    statuses = statuses_text(result.statuses)
    return (
        f"{name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p90 {result.p90_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, max {result.max_ms:.0f} ms, non-2xx {result.non_2xx}, "
        f"socket errors {result.socket_errors}" + (f" ({statuses})" if statuses else "")
    )


def overload_lines(overload: Overload) -> list[str]:
    shed = overload.statuses[503]
    retry_after = (
        "every one with Retry-After"
        if overload.shed_without_retry_after == 0
        else f"{overload.shed_without_retry_after} WITHOUT Retry-After"
    )
    unanswered = ", ".join(f"{name}: {count}" for name, count in sorted(overload.unanswered.items()))
    unanswered = f" ({unanswered})" if unanswered else ""
    readiness = "; ".join(f"{readiness.name} {readiness}" for readiness in overload.readiness_after)
    shed_at_once = ", ".join(f"{name} {count:,}" for name, count in overload.shed_at_once.items())
    return [
        f"offered {overload.rate:,.0f} votes/s (2x the capacity of {overload.capacity:,.0f} new votes/s) for "
        f"{overload.planned_seconds:g} s: {overload.sent:,} sent, last answer after {overload.seconds:.1f} s",
        f"goodput ({'/'.join(map(str, GOODPUT_STATUSES))}) {overload.goodput:,.0f}/s = "
        f"{overload.share_of_capacity:.0%} of the capacity; statuses {statuses_text(overload.statuses) or 'none'}",
        f"latency from when each vote was due: p50 {overload.latency_ms(50):.1f} ms, "
        f"p99 {overload.latency_ms(99):.1f} ms",
        f"503 {overload.shed_share:.0%} of the votes sent ({shed:,}), {retry_after}; answered p50 "
        f"{overload.shed_latency_ms(50):.1f} ms, p99 {overload.shed_latency_ms(99):.1f} ms; turned away at once "
        f"(http_requests_shed_total): {shed_at_once or 'not read'}",
        f"no answer within the client's timeout: {overload.unanswered_total}{unanswered}",
        f"the client's own lateness sending: p50 {overload.send_delay_ms(50):.1f} ms, "
        f"p99 {overload.send_delay_ms(99):.1f} ms",
        f"/readyz right after: {readiness}",
    ]


def _ratio(rate: float, trivial: WrkResult | None) -> float:
    return rate / trivial.rps if trivial is not None and trivial.rps else float("nan")


def _ratio_target(ratio: float, minimum: float | None) -> tuple[str, str]:
    if minimum is None:
        return "", ""
    return f">= {minimum:.2f}x the trivial app", _verdict(ratio >= minimum)


def _throughput_rows(results: Results) -> list[list[str]]:
    config, trivial = results.config, results.trivial

    def row(name: str, result: WrkResult, rate: float, unit: str, target: tuple[str, str], errors: int) -> list[str]:
        ratio = _ratio(rate, trivial)
        return [
            name,
            f"{rate:,.0f}{unit}",
            f"{ratio:.2f}x",
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            str(errors),
            *target,
        ]

    rows = []
    if trivial is not None:
        rows.append(row(f"{TRIVIAL} (1 uvicorn process)", trivial, trivial.rps, "", ("", ""), trivial.non_2xx))
    for name, result in results.reads.items():
        minimum = MIN_RATIO_TO_TRIVIAL.get(name)
        target = _ratio_target(_ratio(result.rps, trivial), minimum)
        rows.append(row(name, result, result.rps, "", target, result.non_2xx + result.socket_errors))
    for name, result, minimum in (
        ("POST /vote (201 = new vote)", results.votes, VOTES_MIN_RATIO_TO_TRIVIAL),
        (f"{HOT_POST}, {config.hot_connections} conn. (201s)", results.hot_post, HOT_POST_MIN_RATIO_TO_TRIVIAL),
    ):
        if result is None:
            continue
        rate = result.rate_of(201)
        errors = result.non_2xx + result.socket_errors - result.statuses.get(409, 0) - result.statuses.get(404, 0)
        rows.append(row(name, result, rate, "/s", _ratio_target(_ratio(rate, trivial), minimum), errors))
        other = {status: count for status, count in result.statuses.items() if status != 201}
        if other:
            rows.append([f"  other answers: {statuses_text(other)}", "", "", "", "", "", "", ""])
    for name, result in results.small_reads.items():
        big = results.reads.get(name)
        speedup = result.rps / big.rps if big else float("nan")
        target = (
            f"{speedup:.2f}x the {config.votes:,}-vote rate; <= {SMALL_DATASET_MAX_SPEEDUP:.2f}x",
            _verdict(speedup <= SMALL_DATASET_MAX_SPEEDUP),
        )
        errors = result.non_2xx + result.socket_errors
        rows.append(row(f"{name} at {config.small_votes:,} votes", result, result.rps, "", target, errors))
    return rows


def _lag_rows(results: Results) -> list[list[str]]:
    rows = []
    for steady in results.steady:
        record = steady.record
        is_target = steady.label == TARGET_LAG_LABEL
        met = record.p99_ms < STEADY_LAG_MAX_P99_MS and record.not_seen == 0
        rows.append(
            [
                f"{steady.label}: {steady.rate:,.0f} votes/s offered ({steady.achieved_rate:,.0f}/s got 201)",
                str(len(record.lags)),
                f"{record.p50_ms:.1f}",
                f"{record.p99_ms:.1f}",
                f"{record.max_ms:.0f}",
                str(record.not_seen),
                f"p99 < {STEADY_LAG_MAX_P99_MS} ms" if is_target else "",
                _verdict(met) if is_target else "",
            ]
        )
    if results.saturated is not None:
        saturated = results.saturated
        record = saturated.record
        rows.append(
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
    return rows


def _two_sizes(results: Results) -> list[str]:
    """The reads at both sizes, their ratio, and the pairs of reads the issue compares, at each size."""
    config = results.config
    base, large = f"{config.posts:,}", f"{config.large_posts:,}"
    rows = []
    for name in SCALED_READS:
        small, big = results.reads.get(name), results.large_reads.get(name)
        if small is None or big is None:
            continue
        ratio = big.rps / small.rps
        errors = small.non_2xx + small.socket_errors + big.non_2xx + big.socket_errors
        rows.append(
            [
                name,
                f"{small.rps:,.0f}",
                f"{big.rps:,.0f}",
                f"{ratio:.2f}x",
                f"{big.p99_ms:.1f}",
                str(errors),
                f">= {LARGE_MIN_RATIO:.2f}x",
                _verdict(ratio >= LARGE_MIN_RATIO),
            ]
        )
    if not rows:
        return []
    header = ["read", f"req/s at {base} posts", f"req/s at {large} posts", "ratio", "p99 ms", "errors", "target", ""]
    out = [f"reads at two sizes: {results.dataset}; then {results.large_dataset}", _table(header, rows)]
    pair_rows = []
    for name, reference, minimum in READ_PAIRS:
        for size, reads in ((base, results.reads), (large, results.large_reads)):
            if name in reads and reference in reads:
                ratio = reads[name].rps / reads[reference].rps
                pair_rows.append(
                    [
                        f"{name} / {reference}",
                        f"{size} posts",
                        f"{ratio:.2f}x",
                        f">= {minimum:.2f}x",
                        _verdict(ratio >= minimum),
                    ]
                )
    out.append(_table(["pair", "at", "ratio", "target", ""], pair_rows))
    out.append(
        f"<deep>: the cursor of the page {config.cursor_depth:,} posts deep; "
        f"the large dataset loaded in {results.large_load_seconds:.1f} s"
    )
    return out


def summary(results: Results) -> str:
    config = results.config
    out = ["", "=" * 100, "SUMMARY", "=" * 100, str(results.machine)]
    out.append(
        f"load: {config.threads} wrk threads, {config.connections} connections, "
        f"{config.duration:g} s per scenario after a {config.warmup:g} s warm-up"
    )
    out.append(
        f"database driver of the services: {config.database_driver} "
        f"(their URLs: {SERVICE_URL_SCHEMES[config.database_driver]}://...)"
    )
    out.append(f"dataset: {results.dataset} (loaded in {results.load_seconds:.1f} s)")
    if results.small_dataset:
        out.append(f"small dataset: {results.small_dataset}")
    out.append("")

    header = ["scenario", "req/s", "x trivial", "p50 ms", "p99 ms", "errors", "target", ""]
    out.append(_table(header, _throughput_rows(results)))
    out.append(
        "x trivial: the throughput (for the votes, the 201s a second) as a ratio to the trivial app's req/s; "
        "errors: responses of 400 or more and socket errors; for the votes, other than 409 and 404."
    )
    if results.hot_post_count is not None:
        count, votes = results.hot_post_count
        out.append(
            f"hot post (id {config.hot_post_id}) once its events were applied: count {count:,}, "
            f"votes {votes:,}" + ("" if count == votes else "  !!! they differ")
        )
    if results.cpu_per_request:
        out.append("")
        out.append("CPU milliseconds per request, by process ('others': the rest of the machine):")
        out += [f"  {label}: {line}" for label, line in results.cpu_per_request.items()]

    if results.overload is not None:
        overload = results.overload
        met = overload.share_of_capacity >= OVERLOAD_MIN_SHARE_OF_CAPACITY and overload.unanswered_total == 0
        out.append("")
        out.append(
            f"overload: open-loop POST /vote at 2x capacity; target goodput >= "
            f"{OVERLOAD_MIN_SHARE_OF_CAPACITY:.0%} of the capacity with 0 unanswered: {_verdict(met)}"
        )
        out += [f"  {line}" for line in overload_lines(overload)]

    out.append("")
    lag_rows = _lag_rows(results)
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

    two_sizes = _two_sizes(results)
    if two_sizes:
        out += [*two_sizes, ""]
    if results.alarms:
        out.append(f"!!! {len(results.alarms)} alarm(s) on the way:")
        out += [f"!!! {line}" for line in results.alarms]
    else:
        out.append(
            "no alarm: every process answered /readyz within 1 s after every scenario, every request was "
            "answered, no 5xx but 503, no error in the processes' logs"
        )
    return "\n".join(out)
