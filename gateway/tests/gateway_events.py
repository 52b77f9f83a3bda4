"""Real `user.deleted` events on the real broker, under a namespace of the test's own."""

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from gateway.models import inbox
from gateway.settings import GatewaySettings
from gateway.worker import HANDLERS
from tally_shared.db import Database
from tally_shared.events import Envelope, EventConsumer, UserDeleted
from tally_testing import declare_service_queue_for, publish_envelopes

T = TypeVar("T")


def user_deleted(user_id: int) -> Envelope:
    return Envelope.wrap(UserDeleted(user_id=user_id), producer="auth", request_id=f"req-delete-{user_id}")


async def declare_gateway_queue(settings: GatewaySettings) -> None:
    await declare_service_queue_for(settings, (event_class.type for event_class in HANDLERS))


async def publish(settings: GatewaySettings, *envelopes: Envelope) -> None:
    await publish_envelopes(settings.event_namespace, *envelopes)


async def wait_for(condition: Callable[[], T | Awaitable[T]], timeout: float = 15.0) -> T:
    """The first truthy value of `condition()` (a plain or async function), or its last value
    once `timeout` has passed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
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
