"""Running wrk with the benchmark's Lua scripts, and reading back the line their `done` prints."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_PREFIX = "BENCH_RESULT "
# A request slower than this counts as a timeout, not as a latency.
REQUEST_TIMEOUT = "10s"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # Responses with a status of 400 or more (wrk's count).
    non_2xx: int
    socket_errors: int
    # Only filled in by the scripts that count statuses (vote.lua).
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def rate_of(self, status: int) -> float:
        return self.statuses.get(status, 0) / self.seconds

    @classmethod
    def parse(cls, output: str) -> "WrkResult":
        line = next((line for line in output.splitlines() if line.startswith(RESULT_PREFIX)), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result line:\n{output}")
        values = dict(pair.split("=", 1) for pair in line[len(RESULT_PREFIX) :].split())
        return cls(
            requests=int(values["requests"]),
            seconds=int(values["duration_us"]) / 1e6,
            p50_ms=int(values["p50_us"]) / 1000,
            p90_ms=int(values["p90_us"]) / 1000,
            p99_ms=int(values["p99_us"]) / 1000,
            max_ms=int(values["max_us"]) / 1000,
            non_2xx=int(values["non2xx"]),
            socket_errors=int(values["socket_errors"]),
            statuses={int(key[7:]): int(value) for key, value in values.items() if key.startswith("status_")},
        )


@dataclass(frozen=True)
class Load:
    """How hard wrk pushes: `connections` open connections over `threads` threads, for `seconds`."""

    seconds: float
    threads: int
    connections: int


def command(url: str, script: str, args: list[str], load: Load) -> list[str]:
    return [
        "wrk",
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={max(1, round(load.seconds))}s",
        f"--timeout={REQUEST_TIMEOUT}",
        f"--script={LUA_DIR / script}",
        url,
        "--",
        *args,
    ]


def environment() -> dict[str, str]:
    # So that the scripts' `require("common")` finds bench/lua/common.lua from any directory.
    return {**os.environ, "LUA_PATH": f"{LUA_DIR}/?.lua;;"}


def run(url: str, script: str, args: list[str], load: Load) -> WrkResult:
    finished = subprocess.run(
        command(url, script, args, load), env=environment(), capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed ({finished.returncode}):\n{finished.stdout}\n{finished.stderr}")
    return WrkResult.parse(finished.stdout)
