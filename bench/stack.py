"""The whole stack as processes, started from the Procfile's own commands, on free ports.

Only what must differ from `make run` is changed: the ports (free ones instead
of 8000-8003), the database (`tally_bench`, through the driver BENCH_DATABASE_DRIVER
names), the broker namespace (`tally-bench`) and where the signing keys live (a
temporary directory).

Also here: whether every HTTP process is ready, and the trivial app the figures
are compared with, served the way the Procfile serves an API.
"""

import asyncio
import contextlib
import ctypes
import os
import re
import shlex
import signal
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx

from bench.config import EVENT_NAMESPACE, MIGRATED, ROOT, BenchConfig
from tally_testing import free_port

HTTP_SERVICES = ("gateway", "auth", "posts", "votes")
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20
SETTLE_SECONDS = 1.0
# A process is ready when its /readyz answers 200 within this long.
READY_WITHIN_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1
# The trivial app is served by the command line of this Procfile entry, its app swapped.
TRIVIAL_APP_SERVED_AS = "posts"
TRIVIAL_APP = "bench.trivial_app:create_app"


def procfile_commands(env: dict[str, str], ports: dict[str, int]) -> dict[str, list[str]]:
    """Each Procfile line as an argv: its `--port` replaced by the process's free port,
    `$VARIABLES` expanded from `env`, and `uvicorn`/`python` run by this interpreter."""
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        name = name.strip()
        command = re.sub(r"--port\s+\d+", f"--port {ports[name]}", command) if name in ports else command
        argv = [string.Template(word).safe_substitute(env) for word in shlex.split(command)]
        if argv[0] == "uvicorn":
            argv = [sys.executable, "-m", "uvicorn", *argv[1:]]
        elif argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        commands[name] = argv
    return commands


def _is_error(log_line: str) -> bool:
    return " ERROR " in log_line or " CRITICAL " in log_line or log_line.startswith("Traceback ")


def _die_with_parent() -> None:
    """Runs in the child: if the benchmark itself is killed, its processes get SIGTERM too."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class Readiness:
    """What one process's /readyz said, and how fast."""

    name: str
    # None: no answer within READY_WITHIN_SECONDS (or no connection).
    status: int | None
    seconds: float
    # The body of an answer other than 200, or why there was none.
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.status == 200 and self.seconds <= READY_WITHIN_SECONDS

    def __str__(self) -> str:
        if self.status is None and self.detail == "TimeoutError":
            return f"no answer within {READY_WITHIN_SECONDS:g} s"
        if self.status is None:
            return f"no answer ({self.detail})"
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.status} in {self.seconds:.2f} s{detail}"


async def _readiness(name: str, url: str) -> Readiness:
    started = time.perf_counter()
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=READY_WITHIN_SECONDS)) as client,
            client.get(f"{url}/readyz") as response,
        ):
            body = await response.text()
    except (aiohttp.ClientError, TimeoutError) as error:
        return Readiness(name, None, time.perf_counter() - started, type(error).__name__)
    detail = "" if response.status == 200 else " ".join(body.split())[:300]
    return Readiness(name, response.status, time.perf_counter() - started, detail)


async def _metric(url: str, name: str) -> float | None:
    """The value of the unlabelled metric `name` in a process's /metrics, None if it did not answer."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client,
            client.get(f"{url}/metrics") as response,
        ):
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    return next((float(line.split()[1]) for line in text.splitlines() if line.startswith(f"{name} ")), 0.0)


@dataclass
class Stack:
    workdir: Path
    config: BenchConfig
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def env(self) -> dict[str, str]:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        return {
            **os.environ,
            "GATEWAY_HOST": "127.0.0.1",
            "TALLY_EVENT_NAMESPACE": EVENT_NAMESPACE,
            "AUTH_JWT_KEYS_DIR": str(self.workdir / "keys"),
            # Long enough for the whole run: the tokens are made once, at the start.
            "AUTH_ACCESS_TOKEN_EXPIRE_MINUTES": "600",
            **{f"{name.upper()}_DATABASE_URL": self.config.service_database_url(name) for name in MIGRATED},
            **{f"GATEWAY_{service.upper()}_URL": urls[service] for service in ("auth", "posts", "votes")},
            "POSTS_VOTES_URL": urls["votes"],
            "VOTES_POSTS_URL": urls["posts"],
            # The load generator is one client: the gateway's per-client limit would measure itself.
            "GATEWAY_RATE_LIMIT_PER_SECOND": "0",
        }

    def start(self) -> None:
        # New ports at every start: others on this machine may have taken the previous ones meanwhile.
        self.ports = {name: free_port() for name in HTTP_SERVICES}
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        env = self.env
        for name, argv in procfile_commands(env, self.ports).items():
            with open(self.logs_dir / f"{name}.log", "ab") as log:
                self.processes[name] = subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session, so a Ctrl-C reaches only the benchmark, which stops them in order.
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
        self._wait_until_ready()

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def readiness(self) -> list[Readiness]:
        """Every HTTP process's /readyz, asked at once; each must answer 200 within READY_WITHIN_SECONDS."""

        async def ask_all() -> list[Readiness]:
            return list(
                await asyncio.gather(
                    *(_readiness(name, f"http://127.0.0.1:{self.ports[name]}") for name in HTTP_SERVICES)
                )
            )

        return asyncio.run(ask_all())

    def metric(self, metric: str) -> dict[str, float | None]:
        """An unlabelled metric (a counter's total) of every HTTP process, from its /metrics."""

        async def ask_all() -> list[float | None]:
            urls = [f"http://127.0.0.1:{self.ports[name]}" for name in HTTP_SERVICES]
            return list(await asyncio.gather(*(_metric(url, metric) for url in urls)))

        return dict(zip(HTTP_SERVICES, asyncio.run(ask_all()), strict=True))

    def exited(self) -> dict[str, int]:
        """The processes that are no longer running, with their exit codes."""
        return {name: process.returncode for name, process in self.processes.items() if process.poll() is not None}

    def log_errors(self) -> dict[str, tuple[int, str]]:
        """For each process whose log has ERROR or CRITICAL lines or tracebacks: how many, and the first."""
        found = {}
        for log in sorted(self.logs_dir.glob("*.log")):
            lines = [line for line in log.read_text(errors="replace").splitlines() if _is_error(line)]
            if lines:
                found[log.stem] = (len(lines), lines[0])
        return found

    def log_tail(self, name: str, characters: int = 2000) -> str:
        return (self.logs_dir / f"{name}.log").read_text(errors="replace")[-characters:]

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(f"{self.gateway_url}/readyz", timeout=2).status_code == 200:
                    # A service that lost its port to another program exits only once its
                    # app has started, maybe after the gateway found *something* ready there.
                    time.sleep(SETTLE_SECONDS)
                    self._check_alive()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        tails = "\n".join(f"--- {name}\n{self.log_tail(name, 800)}" for name in self.processes)
        raise RuntimeError(f"the stack was not ready within {STARTUP_TIMEOUT_SECONDS} s:\n{tails}")

    def stop(self) -> None:
        """SIGTERM to every process, then wait for each (SIGKILL after a grace period)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within {STOP_TIMEOUT_SECONDS} s; killed", file=sys.stderr)
                process.kill()
                process.wait()
        self.processes.clear()


@contextlib.contextmanager
def trivial_app(logs_dir: Path) -> Iterator[tuple[str, int]]:
    """bench/trivial_app.py served by one uvicorn process, with the flags the Procfile gives an API;
    yields its URL and pid, stops it at the end."""
    port = free_port()
    argv = procfile_commands(dict(os.environ), {TRIVIAL_APP_SERVED_AS: port})[TRIVIAL_APP_SERVED_AS]
    argv[argv.index("--factory") + 1] = TRIVIAL_APP
    url = f"http://127.0.0.1:{port}"
    log_path = logs_dir / "trivial-app.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the trivial app exited with {process.returncode}; see {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/hello", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the trivial app did not answer within {STARTUP_TIMEOUT_SECONDS} s")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
