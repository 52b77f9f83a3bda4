"""A throwaway service, `backbone`, with an outbox, an inbox and one effect table,
on the real PostgreSQL and RabbitMQ: what every Tally service's events stand on."""

import asyncio
import contextlib
import inspect
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from pydantic import SecretStr
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, create_engine, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.db import Database
from tally_shared.db import setup as dbsetup
from tally_shared.events import (
    ConsumerTuning,
    Envelope,
    Event,
    EventConsumer,
    Handler,
    OutboxRelay,
    Topology,
    UserRegistered,
    inbox_table,
    outbox_table,
    record_event,
)
from tally_shared.settings import ServiceSettings
from tally_testing import (
    AMQP_URL,
    TcpProxy,
    database_url_for_tests,
    declare_service_queue_for,
    delete_namespace,
    unique_namespace,
)

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


async def apply_user_registered(session: AsyncSession, event: UserRegistered, envelope: Envelope) -> None:
    if event.email == POISON_EMAIL:
        raise RuntimeError("this event always fails")
    await session.execute(
        insert(applied)
        .values(user_id=event.user_id, times=1)
        .on_conflict_do_update(index_elements=[applied.c.user_id], set_={"times": applied.c.times + 1})
    )


HANDLERS = {UserRegistered: apply_user_registered}


@pytest.fixture(scope="session")
def schema() -> Iterator[None]:
    """The `backbone` role, schema and tables, created once per run (synchronously, with psycopg2:
    no event loop lives as long as the session)."""
    admin_url = make_url(os.environ.get("TALLY_ADMIN_DATABASE_URL", dbsetup.DEFAULT_ADMIN_URL))
    dbsetup.prepare(admin_url, {SERVICE: make_url(DATABASE_URL)})
    engine = create_engine(DATABASE_URL)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    yield


@pytest.fixture
async def database(schema: None) -> AsyncIterator[Database]:
    """A `Database` of the test's own: its asyncpg connections belong to the test's event loop."""
    database = Database(DATABASE_URL, application_name="backbone-tests")
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(autouse=True)
async def empty_tables(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(text("TRUNCATE backbone.outbox, backbone.inbox, backbone.applied"))


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


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy()
    await proxy.open()
    yield proxy
    await proxy.close()


def through(proxy: TcpProxy, settings: ServiceSettings) -> ServiceSettings:
    """The same service, reaching RabbitMQ only through `proxy`."""
    return settings.model_copy(update={"amqp_url": SecretStr(proxy.url)})


def user_registered(user_id: int, email: str | None = None) -> UserRegistered:
    return UserRegistered(user_id=user_id, email=email or f"user{user_id}@example.com", created_at=datetime.now(UTC))


async def commit_events(database: Database, user_ids: Iterable[int]) -> None:
    """One committed transaction recording a `user.registered` per id."""
    async with database.transaction() as session:
        for user_id in user_ids:
            await record_event(session, outbox, user_registered(user_id), producer=SERVICE)


async def declare_queue(settings: ServiceSettings) -> None:
    """What the consumer declares at start-up, so published events have somewhere to go."""
    await declare_service_queue_for(settings, [UserRegistered.type])


def queue_name(settings: ServiceSettings) -> str:
    return Topology(settings.event_namespace).queue(SERVICE)


def dead_letter_queue_name(settings: ServiceSettings) -> str:
    return Topology(settings.event_namespace).dead_letter_queue(SERVICE)


async def queue_depth(queue_name: str) -> int:
    """How many messages wait in a queue (not counting those delivered and unacked), taking none."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        return queue.declaration_result.message_count


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


async def publish_raw(
    settings: ServiceSettings, bodies: Iterable[bytes], routing_key: str = UserRegistered.type
) -> None:
    """Publish message bodies as they are, past the outbox, on one confirmed channel."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(Topology(settings.event_namespace).events_exchange)
        for body in bodies:
            await exchange.publish(aio_pika.Message(body), routing_key=routing_key, mandatory=True)


def envelope_bytes(event: UserRegistered) -> bytes:
    return json.dumps(Envelope.wrap(event, producer=SERVICE, request_id=None).model_dump(mode="json")).encode()


async def eventually(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until `condition()` (a plain or async function) is truthy; its last value either way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result or loop.time() >= deadline:
            return result
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(component: OutboxRelay | EventConsumer) -> AsyncIterator[None]:
    """Run a relay or consumer as a task; stop it gracefully afterwards, as SIGTERM would."""
    stop = asyncio.Event()
    task = asyncio.create_task(component.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def consumer(
    database: Database, settings: ServiceSettings, handlers: dict[type[Event], Handler] | None = None
) -> EventConsumer:
    return EventConsumer(
        database=database, inbox=inbox, settings=settings, handlers=handlers or HANDLERS, tuning=ConsumerTuning()
    )


async def scalar(database: Database, sql: str) -> Any:
    async with database.transaction() as session:
        return (await session.execute(text(sql))).scalar()


async def equals(value: Awaitable[Any], expected: Any) -> bool:
    """Whether `value`, once awaited, is `expected`: `eventually(lambda: equals(pending(db), 0))`."""
    return await value == expected
