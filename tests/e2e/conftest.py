"""End to end: the real processes of the stack, started as `make run` starts them,
on free ports, against the test database and a broker namespace of their own."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from published_events import PublishedEvents
from sqlalchemy import create_engine

from tally_testing import TEST_DATABASE, delete_namespace, free_port, prepare_service_database, unique_namespace

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "posts", "votes")
STARTUP_TIMEOUT_SECONDS = 60
LOGIN_WINDOW_SECONDS = 8


@dataclass
class Stack:
    """The stack's processes; with replicas, every API, relay and worker runs `replicas` times,
    named `posts-1`, `posts-2`, `posts-worker-1`, ... (with one, plainly `posts`, `posts-worker`)."""

    gateway_urls: list[str]
    service_urls: dict[str, list[str]]
    database_urls: dict[str, str]
    keys_dir: Path
    logs_dir: Path
    env: dict[str, str]
    events: PublishedEvents
    replicas: int = 1
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return self.gateway_urls[0]

    def names(self, process: str) -> list[str]:
        """The names under which `process` (say `posts-worker`) runs."""
        return [process] if self.replicas == 1 else [f"{process}-{r}" for r in range(1, self.replicas + 1)]

    def start(self, name: str, command: list[str] | None = None) -> None:
        """Start a process; without `command`, start again the one last started under `name`."""
        command = command or self.commands[name]
        self.commands[name] = command
        log = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115  (closed with the process)
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        process = self.processes.pop(name)
        process.send_signal(sig)
        return process.wait(timeout=30)

    def log(self, name: str) -> str:
        return (self.logs_dir / f"{name}.log").read_text(errors="replace")

    def database(self, service: str):
        return create_engine(self.database_urls[service])


def uvicorn(module: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"{module}:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


def wait_until_ready(stack: Stack, url: str | None = None) -> None:
    """Until the gateway (or the process at `url`) says it is ready; fails at once if a process died."""
    url = url or stack.gateway_url
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for name, process in stack.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{stack.log(name)[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        "the stack did not become ready:\n"
        + "\n".join(f"--- {name}\n{stack.log(name)[-2000:]}" for name in stack.processes)
    )


EVENT_PROCESSES = ("auth.relay", "posts.relay", "posts.worker", "votes.relay", "votes.worker", "gateway.worker")
CONSUMING_SERVICES = ("posts", "votes", "gateway")


@contextmanager
def launched_stack(tmp_path_factory, *, replicas: int = 1, database: str = TEST_DATABASE) -> Iterator[Stack]:
    """Starts every process of the stack (`replicas` of each, and as many gateways), as
    `make run REPLICAS=...` does, on free ports, in `database` and a broker namespace of its own.

    Every event the stack publishes is checked against /asyncapi.json (`stack.events`); when the
    stack stops, one that does not match fails the test that launched it (the session, for `stack`)."""
    alembic_configs = {service: ROOT / "services" / service / "alembic.ini" for service in SERVICES}
    alembic_configs["gateway"] = ROOT / "gateway" / "alembic.ini"
    database_urls = {name: prepare_service_database(name, config, database) for name, config in alembic_configs.items()}
    ports = {name: [free_port() for _ in range(replicas)] for name in ("gateway", *SERVICES)}
    service_urls = {service: [f"http://127.0.0.1:{port}" for port in ports[service]] for service in SERVICES}
    namespace = unique_namespace()
    keys_dir = tmp_path_factory.mktemp("keys")
    env = {
        **os.environ,
        "TALLY_ENVIRONMENT": "test",
        "TALLY_EVENT_NAMESPACE": namespace,
        "AUTH_JWT_KEYS_DIR": str(keys_dir),
        **{f"{name.upper()}_DATABASE_URL": url for name, url in database_urls.items()},
        **{f"GATEWAY_{service.upper()}_URL": ",".join(urls) for service, urls in service_urls.items()},
        "POSTS_VOTES_URL": ",".join(service_urls["votes"]),
        "VOTES_POSTS_URL": ",".join(service_urls["posts"]),
        # Every test client is 127.0.0.1: a limit per client high enough for the load tests.
        "GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
        # uvicorn's proxy trust, said explicitly: the gateway takes the client's address from
        # X-Forwarded-For when the peer is 127.0.0.1, so a test can play many clients.
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        # Login throttling with a window a test can wait out (test_login_throttling.py).
        "AUTH_LOGIN_WINDOW_SECONDS": str(LOGIN_WINDOW_SECONDS),
        # A first wait long enough that a slow machine's next request still meets it.
        "AUTH_LOGIN_BACKOFF_BASE_SECONDS": "2",
    }
    stack = Stack(
        gateway_urls=[f"http://127.0.0.1:{port}" for port in ports["gateway"]],
        service_urls=service_urls,
        database_urls=database_urls,
        keys_dir=keys_dir,
        logs_dir=tmp_path_factory.mktemp("logs"),
        env=env,
        events=PublishedEvents(namespace),
        replicas=replicas,
    )
    stack.events.bind()
    for service in SERVICES:
        for name, port in zip(stack.names(service), ports[service], strict=True):
            stack.start(name, uvicorn(f"{service}.app", port))
    for process in EVENT_PROCESSES:
        for name in stack.names(process.replace(".", "-")):
            stack.start(name, [sys.executable, "-m", process])
    for name, port in zip(stack.names("gateway"), ports["gateway"], strict=True):
        stack.start(name, uvicorn("gateway.app", port))
    try:
        for url in stack.gateway_urls:
            wait_until_ready(stack, url)
        stack.events.wait_for_consumers(CONSUMING_SERVICES)
        yield stack
    finally:
        for name in list(stack.processes):
            stack.stop(name)
        try:
            stack.events.collect()
        finally:
            stack.events.delete()
            asyncio.run(delete_namespace(namespace, list(CONSUMING_SERVICES)))
    assert not stack.events.mismatches, "events that do not match /asyncapi.json:\n" + "\n".join(
        stack.events.mismatches
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    with launched_stack(tmp_path_factory) as stack:
        yield stack


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        yield client
