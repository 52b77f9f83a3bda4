"""Test support: a database of its own for the test run, a broker namespace per test, a
TCP proxy in front of the broker that a test can cut, and the identity check a service does.
It is installed in .venv for the tests, never in an image.

Tests never touch `make run`'s data: they use the `tally_test` database (or
TALLY_TEST_DATABASE) with the same per-service roles and schemas, and
exchange/queue names under a fresh namespace that is deleted afterwards.
Nothing here skips: if PostgreSQL or RabbitMQ is missing, the tests fail.
"""

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import aiormq
import httpx
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url

from tally_shared.db import setup as dbsetup
from tally_shared.events import Envelope, Topology, declare_service_queue
from tally_shared.settings import ServiceSettings
from tally_shared.web import Caller, VerifiedIdentities, app_state

TEST_DATABASE = os.environ.get("TALLY_TEST_DATABASE", "tally_test")
AMQP_URL = os.environ.get("TALLY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_HOST = os.environ.get("TALLY_TEST_POSTGRES_HOST", "127.0.0.1:5432")


def database_url_for_tests(service: str, database: str = TEST_DATABASE) -> str:
    return f"postgresql+psycopg2://tally_{service}:tally_{service}@{POSTGRES_HOST}/{database}"


def prepare_service_database(service: str, alembic_ini: Path, database: str = TEST_DATABASE) -> str:
    """Create the test database, role and schema if missing, migrate it, and return its URL."""
    url = database_url_for_tests(service, database)
    admin_url = make_url(os.environ.get("TALLY_ADMIN_DATABASE_URL", dbsetup.DEFAULT_ADMIN_URL))
    dbsetup.prepare(admin_url, {service: make_url(url)})
    os.environ[f"{service.upper()}_DATABASE_URL"] = url
    config = Config(str(alembic_ini))
    config.set_main_option("script_location", str(alembic_ini.parent / "migrations"))
    command.upgrade(config, "head")
    return url


@asynccontextmanager
async def emptied(app: FastAPI, metadata: MetaData) -> AsyncIterator[FastAPI]:
    """A service's app with every table of its schema (`metadata`) emptied first, ids restarted,
    and its connection pool closed after."""
    tables = ", ".join(f'"{table.schema}"."{table.name}"' for table in metadata.sorted_tables)
    async with app_state(app).database.transaction() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    try:
        yield app
    finally:
        await app_state(app).database.dispose()


@asynccontextmanager
async def client_of(app: FastAPI, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that calls `app` in this process, as `http://<host>`."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}") as client:
        yield client


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def verify_identity(assertion: str, secret: str) -> Caller:
    """The caller an identity assertion names, checked as a service checks it."""
    return VerifiedIdentities(secret).caller(assertion)


def unique_namespace() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


async def delete_namespace(namespace: str, services: list[str]) -> None:
    """Delete the exchanges and queues a test declared under `namespace`."""
    topology = Topology(namespace)
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for service in services:
            await channel.queue_delete(topology.queue(service))
            await channel.queue_delete(topology.dead_letter_queue(service))
        await channel.exchange_delete(topology.events_exchange)
        await channel.exchange_delete(topology.dead_letter_exchange)


async def wait_for_consumers(namespace: str, services: Iterable[str], timeout: float = 60) -> None:
    """Until each service's worker consumes its queue, which it binds before it consumes: an event
    published before then reaches no queue of that service."""
    topology = Topology(namespace)
    deadline = time.monotonic() + timeout
    async with await aio_pika.connect(AMQP_URL) as connection:
        for service in services:
            while True:
                # A passive declaration of a queue that does not exist yet closes the channel.
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(topology.queue(service), passive=True)
                    if queue.declaration_result.consumer_count:
                        break
                except aiormq.exceptions.ChannelNotFoundEntity:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {service} worker did not consume {topology.queue(service)}")
                await asyncio.sleep(0.1)


async def declare_service_queue_for(settings: ServiceSettings, event_types: Iterable[str]) -> None:
    """Declares the service's queue as its worker does, so nothing published next is unroutable."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await declare_service_queue(
            channel,
            Topology(settings.event_namespace),
            settings.service_name,
            sorted(event_types),
            delivery_limit=settings.event_delivery_limit,
        )


async def publish_envelopes(namespace: str, *envelopes: Envelope, times: int = 1) -> None:
    """Publishes each envelope `times` times on the namespace's exchange, as a relay would."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(Topology(namespace).events_exchange)
        for envelope in envelopes:
            for _ in range(times):
                await exchange.publish(
                    aio_pika.Message(envelope.model_dump_json().encode(), message_id=str(envelope.id)),
                    routing_key=envelope.type,
                )


class TcpProxy:
    """A TCP hop in front of a server (RabbitMQ by default, or PostgreSQL) that a test can cut and
    restore: "the broker (or database) is unreachable" without stopping the real server that
    everyone else on the machine uses."""

    _DEFAULT_PORTS = {"amqp": 5672, "postgresql": 5432}

    def __init__(self, target_url: str = AMQP_URL) -> None:
        self._target_url = urlsplit(target_url)
        scheme = self._target_url.scheme.partition("+")[0]
        self._target = (self._target_url.hostname or "127.0.0.1", self._target_url.port or self._DEFAULT_PORTS[scheme])
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The target's URL (credentials, database and all), through the proxy."""
        credentials = self._target_url.netloc.rpartition("@")[0]
        return self._target_url._replace(netloc=f"{credentials}@127.0.0.1:{self.port}").geturl()

    @property
    def connections(self) -> int:
        """How many client connections it is forwarding right now."""
        return len(self._pipes) // 2

    async def open(self) -> None:
        """Listen (again, on the same port once it has one) and forward to the target."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Refuse new connections and cut the existing ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()
        if server is not None:
            await server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        if self._server is None:  # closed while this connection was being made
            client_writer.transport.abort()
            target_writer.transport.abort()
            return
        self._pipes.update({client_writer, target_writer})
        await asyncio.gather(
            self._pipe(client_reader, target_writer),
            self._pipe(target_reader, client_writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._pipes.discard(writer)
