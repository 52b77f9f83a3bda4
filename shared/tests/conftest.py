"""A throwaway service, `backbone`, with an outbox, an inbox and one effect table,
on the real PostgreSQL and RabbitMQ: what every Tally service's events stand on."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tally_shared import dbsetup
from tally_shared.broker import Topology, declare_service_queue
from tally_shared.consumer import ConsumerTuning, EventConsumer, inbox_table
from tally_shared.database import Database
from tally_shared.events import Envelope, UserRegistered
from tally_shared.outbox import outbox_table
from tally_shared.settings import ServiceSettings
from tally_shared.testing import AMQP_URL, database_url_for_tests, delete_namespace, unique_namespace

SERVICE = "backbone"
DATABASE_URL = database_url_for_tests(SERVICE)

metadata = MetaData(schema=SERVICE)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
# The effect of `user.registered` here: a counter per user, so "applied once" is visible.
applied = Table(
    "applied",
    metadata,
    Column("user_id", BigInteger, primary_key=True),
    Column("times", Integer, nullable=False),
)
POISON_EMAIL = "poison@example.com"


def apply_user_registered(session: Session, event: UserRegistered, envelope: Envelope) -> None:
    if event.email == POISON_EMAIL:
        raise RuntimeError("this event always fails")
    session.execute(
        insert(applied)
        .values(user_id=event.user_id, times=1)
        .on_conflict_do_update(index_elements=[applied.c.user_id], set_={"times": applied.c.times + 1})
    )


HANDLERS = {UserRegistered: apply_user_registered}


@pytest.fixture(scope="session")
def database() -> Database:
    dbsetup.prepare(make_url(dbsetup.DEFAULT_ADMIN_URL), {SERVICE: make_url(DATABASE_URL)})
    database = Database(DATABASE_URL, application_name="backbone-tests")
    metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def empty_tables(database: Database) -> None:
    with database.transaction() as session:
        session.execute(text("TRUNCATE backbone.outbox, backbone.inbox, backbone.applied"))


@pytest.fixture
async def settings() -> AsyncIterator[ServiceSettings]:
    settings = ServiceSettings(
        service_name=SERVICE,
        database_url=DATABASE_URL,
        event_namespace=unique_namespace(),
        event_delivery_limit=3,
        amqp_url=AMQP_URL,
    )
    yield settings
    await delete_namespace(settings.event_namespace, [SERVICE])


def user_registered(user_id: int, email: str | None = None) -> UserRegistered:
    from datetime import UTC, datetime

    return UserRegistered(user_id=user_id, email=email or f"user{user_id}@example.com", created_at=datetime.now(UTC))


async def declare_queue(settings: ServiceSettings) -> None:
    """What the consumer declares at start-up, so published events have somewhere to go."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await declare_service_queue(
            channel, Topology(settings.event_namespace), SERVICE, [UserRegistered.type],
            delivery_limit=settings.event_delivery_limit,
        )


async def read_queue(queue_name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message waiting in a queue, taken off it."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name)
        messages = []
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            messages.append(message)
        return messages


async def publish_raw(settings: ServiceSettings, body: bytes, routing_key: str, times: int = 1) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(Topology(settings.event_namespace).events_exchange)
        for _ in range(times):
            await exchange.publish(aio_pika.Message(body), routing_key=routing_key)


def envelope_bytes(event: UserRegistered) -> bytes:
    return json.dumps(Envelope.wrap(event, producer=SERVICE, request_id=None).model_dump(mode="json")).encode()


async def eventually(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until `condition()` is truthy; its last value either way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := condition()) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return result


@contextlib.asynccontextmanager
async def running(component) -> AsyncIterator[None]:
    """Run a relay or consumer as a task; stop it gracefully afterwards, as SIGTERM would."""
    stop = asyncio.Event()
    task = asyncio.create_task(component.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def consumer(database: Database, settings: ServiceSettings) -> EventConsumer:
    return EventConsumer(
        database=database, inbox=inbox, settings=settings, handlers=HANDLERS, tuning=ConsumerTuning()
    )


def scalar(database: Database, sql: str) -> Any:
    with database.transaction() as session:
        return session.execute(text(sql)).scalar()


class TcpProxy:
    """A TCP hop in front of RabbitMQ that a test can cut and restore: "the broker is unreachable"
    without stopping the real broker that everyone else on the machine uses."""

    def __init__(self, target_port: int = 5672) -> None:
        self.target_port = target_port
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Refuse new connections and cut the existing ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def _accept(self, client_reader, client_writer) -> None:
        try:
            broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._pipes.update({client_writer, broker_writer})
        await asyncio.gather(
            self._pipe(client_reader, broker_writer), self._pipe(broker_reader, client_writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._pipes.discard(writer)
