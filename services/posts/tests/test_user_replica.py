"""The worker keeps the posts service's replica of users from `user.registered`, once per event."""

import asyncio
from datetime import UTC, datetime

from prometheus_client import REGISTRY
from sqlalchemy import select

from posts.events import HANDLERS
from posts.models import inbox, users
from tally_shared.events import Envelope, EventConsumer, UserRegistered
from tally_shared.web import app_state
from tally_testing import declare_service_queue_for, publish_envelopes


async def publish(settings, envelope: Envelope, times: int = 1) -> None:
    await publish_envelopes(settings.event_namespace, envelope, times=times)


def duplicates_skipped() -> float:
    return REGISTRY.get_sample_value("events_duplicates_total") or 0.0


async def declare_posts_queue(settings) -> None:
    await declare_service_queue_for(settings, (event_class.type for event_class in HANDLERS))


async def wait_for(condition, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


async def test_user_registered_reaches_the_replica_once(app, settings):
    database = app_state(app).database
    consumer = EventConsumer(database=database, inbox=inbox, settings=settings, handlers=HANDLERS)
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await declare_posts_queue(settings)
        created_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        envelope = Envelope.wrap(
            UserRegistered(user_id=42, email="ada@example.com", created_at=created_at),
            producer="auth",
            request_id="req-1",
        )
        duplicates_before = duplicates_skipped()
        await publish(settings, envelope, times=3)

        async def replica_rows():
            async with database.transaction() as session:
                return (await session.execute(select(users))).all()

        rows = await wait_for(replica_rows)
        assert [(row.id, row.email, row.created_at) for row in rows] == [(42, "ada@example.com", created_at)]

        async def processed():
            async with database.transaction() as session:
                return (await session.scalars(select(inbox.c.event_id))).all()

        assert await wait_for(lambda: duplicates_skipped() - duplicates_before == 2)
        assert await processed() == [envelope.id]
        assert len(await replica_rows()) == 1
    finally:
        stop.set()
        await running
