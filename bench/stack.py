"""The whole stack as processes, started from the Procfile's own commands, on free ports.

Only what must differ from `make run` is changed: the ports (free ones instead
of 8000-8003), the database (`tally_bench`), the broker namespace
(`tally-bench`) and where the signing keys live (a temporary directory).
"""

import ctypes
import os
import re
import shlex
import signal
import socket
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.config import EVENT_NAMESPACE, MIGRATED, ROOT, database_url

HTTP_SERVICES = ("gateway", "auth", "posts", "votes")
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20
SETTLE_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def _die_with_parent() -> None:
    """Runs in the child: if the benchmark itself is killed, its processes get SIGTERM too."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Stack:
    workdir: Path
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
            **{f"{component.upper()}_DATABASE_URL": database_url(component) for component in MIGRATED},
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
