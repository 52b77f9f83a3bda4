"""Real `user.deleted` events on the real broker, under a namespace of the test's own."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import aio_pika

from gateway.models import inbox
from gateway.settings import GatewaySettings
from gateway.worker import HANDLERS
from tally_shared.broker import Topology, declare_service_queue
from tally_shared.consumer import EventConsumer
from tally_shared.database import Database
from tally_shared.events import Envelope, UserDeleted
from tally_shared.testing import AMQP_URL

T = TypeVar("T")


def user_deleted(user_id: int) -> Envelope:
    return Envelope.wrap(UserDeleted(user_id=user_id), producer="auth", request_id=f"req-delete-{user_id}")


async def declare_gateway_queue(settings: GatewaySettings) -> None:
    """Declared as the worker does, so nothing published next can be unroutable."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await declare_service_queue(
            channel,
            Topology(settings.event_namespace),
            "gateway",
            sorted(event_class.type for event_class in HANDLERS),
            delivery_limit=settings.event_delivery_limit,
        )


async def publish(settings: GatewaySettings, *envelopes: Envelope) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(Topology(settings.event_namespace).events_exchange)
        for envelope in envelopes:
            await exchange.publish(
                aio_pika.Message(json.dumps(envelope.model_dump(mode="json")).encode(), message_id=str(envelope.id)),
                routing_key=envelope.type,
            )


async def wait_for(condition: Callable[[], T], timeout: float = 15.0) -> T:
    """The first truthy value of `condition()`, or its last value once `timeout` has passed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running_worker(settings: GatewaySettings, database: Database) -> AsyncIterator[None]:
    """The gateway worker's consumer, in this process, for as long as the block runs."""
    stop = asyncio.Event()
    consumer = EventConsumer(database=database, inbox=inbox, settings=settings, handlers=HANDLERS)
    running = asyncio.create_task(consumer.run(stop))
    try:
        yield
    finally:
        stop.set()
        await running
