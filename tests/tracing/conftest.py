"""Every component of the stack in this one test process, so that one in-memory exporter sees
every span: the gateway and the three APIs served by uvicorn on free ports, and the relays and
workers as tasks, all in the test's event loop, against the real PostgreSQL and RabbitMQ (the
test database and a broker namespace of their own).

The end-to-end suite runs the real processes, but an in-memory exporter cannot be shared
between processes; the code that runs here is the same, built by the same factories.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tally_shared.telemetry import configure_tracing
from tally_testing import (
    delete_namespace,
    free_port,
    prepare_service_database,
    unique_namespace,
    wait_for_consumers,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "posts", "votes")

SHUTDOWN_SECONDS = 20
# Before any component is built: the first configuration of a process is the one that holds.
SPANS = InMemorySpanExporter()
configure_tracing("tally-tracing-test", span_processor=SimpleSpanProcessor(SPANS))


@dataclass
class Stack:
    gateway_url: str
    # Which component listens on which port: a server span says its port (`server.port`).
    components_by_port: dict[int, str]
    namespace: str


async def _serve(app: FastAPI, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task


@pytest.fixture
async def stack(tmp_path, monkeypatch) -> AsyncIterator[Stack]:
    alembic_configs = {service: ROOT / "services" / service / "alembic.ini" for service in SERVICES}
    alembic_configs["gateway"] = ROOT / "gateway" / "alembic.ini"
    for name, config in alembic_configs.items():
        prepare_service_database(name, config)
    ports = {name: free_port() for name in ("gateway", *SERVICES)}
    namespace = unique_namespace()
    monkeypatch.setenv("TALLY_ENVIRONMENT", "test")
    monkeypatch.setenv("TALLY_EVENT_NAMESPACE", namespace)
    monkeypatch.setenv("AUTH_JWT_KEYS_DIR", str(tmp_path / "keys"))
    for service in SERVICES:
        monkeypatch.setenv(f"GATEWAY_{service.upper()}_URL", f"http://127.0.0.1:{ports[service]}")
    monkeypatch.setenv("VOTES_POSTS_URL", f"http://127.0.0.1:{ports['posts']}")
    monkeypatch.setenv("POSTS_VOTES_URL", f"http://127.0.0.1:{ports['votes']}")

    # Imported here: the settings read the environment set above.
    from auth.app import create_app as create_auth_app
    from auth.models import outbox as auth_outbox
    from auth.settings import AuthSettings
    from gateway.app import create_app as create_gateway_app
    from gateway.models import inbox as gateway_inbox
    from gateway.settings import GatewaySettings
    from gateway.worker import HANDLERS as GATEWAY_HANDLERS
    from posts.app import create_app as create_posts_app
    from posts.events import BATCH_HANDLERS as POSTS_BATCH_HANDLERS
    from posts.events import HANDLERS as POSTS_HANDLERS
    from posts.models import inbox as posts_inbox
    from posts.models import outbox as posts_outbox
    from posts.settings import PostsSettings
    from tally_shared.db import database_for
    from tally_shared.events import EventConsumer, OutboxRelay
    from votes.app import create_app as create_votes_app
    from votes.events import HANDLERS as VOTES_HANDLERS
    from votes.models import inbox as votes_inbox
    from votes.models import outbox as votes_outbox
    from votes.settings import VotesSettings

    settings = {
        "auth": AuthSettings(),
        "posts": PostsSettings(),
        "votes": VotesSettings(),
        "gateway": GatewaySettings(),
    }
    stop = asyncio.Event()
    databases = []

    def event_process(name: str, run: Callable[..., Awaitable[None]], **components) -> asyncio.Task:
        service = name.partition("-")[0]
        database = database_for(settings[service], name, pool_size=2)
        databases.append(database)
        return asyncio.create_task(run(database=database, settings=settings[service], **components).run(stop))

    event_tasks = [
        event_process("auth-relay", OutboxRelay, outbox=auth_outbox),
        event_process("posts-relay", OutboxRelay, outbox=posts_outbox),
        event_process("votes-relay", OutboxRelay, outbox=votes_outbox),
        event_process(
            "posts-worker",
            EventConsumer,
            inbox=posts_inbox,
            handlers=POSTS_HANDLERS,
            batch_handlers=POSTS_BATCH_HANDLERS,
        ),
        event_process("votes-worker", EventConsumer, inbox=votes_inbox, handlers=VOTES_HANDLERS),
        event_process("gateway-worker", EventConsumer, inbox=gateway_inbox, handlers=GATEWAY_HANDLERS),
    ]
    servers = [
        await _serve(create_auth_app(), ports["auth"]),
        await _serve(create_posts_app(), ports["posts"]),
        await _serve(create_votes_app(), ports["votes"]),
        await _serve(create_gateway_app(), ports["gateway"]),
    ]
    await wait_for_consumers(namespace, ["posts", "votes", "gateway"])
    SPANS.clear()
    try:
        yield Stack(
            gateway_url=f"http://127.0.0.1:{ports['gateway']}",
            components_by_port={port: f"{name}-api" if name != "gateway" else name for name, port in ports.items()},
            namespace=namespace,
        )
    finally:
        server_tasks = [task for _, task in servers]
        try:
            # Bounded: uvicorn captures SIGTERM while it serves, so a component that does not stop
            # would hang the whole run, past any `timeout`; it fails the test instead, named.
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                for server, _ in servers:
                    server.should_exit = True
                await asyncio.gather(*server_tasks)
                stop.set()
                await asyncio.gather(*event_tasks)
        except TimeoutError:
            for task in [*server_tasks, *event_tasks]:
                if not task.done():
                    task.print_stack()
            raise
        finally:
            for task in [*server_tasks, *event_tasks]:
                task.cancel()
            await asyncio.gather(*server_tasks, *event_tasks, return_exceptions=True)
            for database in databases:
                await database.dispose()
            await delete_namespace(namespace, ["posts", "votes", "gateway"])
