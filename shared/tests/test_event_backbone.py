"""The outbox relay and the event consumer against the real PostgreSQL and RabbitMQ:
nothing acknowledged is lost, nothing is applied twice, poison does not block the queue."""

import asyncio
import json

import aio_pika
import pytest
from prometheus_client import REGISTRY

from tally_shared.broker import Topology
from tally_shared.outbox import record_event
from tally_shared.relay import OutboxRelay, RelayTuning
from tally_shared.testing import AMQP_URL

from .conftest import (
    POISON_EMAIL,
    SERVICE,
    TcpProxy,
    consumer,
    declare_queue,
    envelope_bytes,
    eventually,
    outbox,
    publish_raw,
    read_queue,
    running,
    scalar,
    user_registered,
)


def commit_events(database, user_ids) -> None:
    with database.transaction() as session:
        for user_id in user_ids:
            record_event(session, outbox, user_registered(user_id), producer=SERVICE)


def relay(database, settings, **tuning) -> OutboxRelay:
    return OutboxRelay(database=database, outbox=outbox, settings=settings, tuning=RelayTuning(**tuning))


def pending(database) -> int:
    return scalar(database, "SELECT count(*) FROM backbone.outbox WHERE published_at IS NULL")


def queue_name(settings) -> str:
    return Topology(settings.event_namespace).queue(SERVICE)


async def test_a_rolled_back_transaction_publishes_nothing(database, settings):
    await declare_queue(settings)
    with pytest.raises(RuntimeError), database.transaction() as session:
        record_event(session, outbox, user_registered(1), producer=SERVICE)
        raise RuntimeError("the change fails after its event was written")
    commit_events(database, [2])  # the control: this one must arrive

    async with running(relay(database, settings)):
        assert await eventually(lambda: pending(database) == 0)
    messages = await read_queue(queue_name(settings))
    assert [json.loads(message.body)["data"]["user_id"] for message in messages] == [2]
    assert scalar(database, "SELECT count(*) FROM backbone.outbox") == 1


async def test_events_committed_while_the_broker_is_unreachable_are_published_when_it_is_back(
    database, settings
):
    await declare_queue(settings)
    proxy = TcpProxy()
    await proxy.open()
    await proxy.close()  # the port is known, nothing answers on it
    settings = settings.model_copy(update={"amqp_url": type(settings.amqp_url)(proxy.amqp_url)})
    commit_events(database, range(1, 6))

    async with running(relay(database, settings, reconnect_delay_seconds=0.2)):
        await asyncio.sleep(1.0)
        assert pending(database) == 5
        await proxy.open()
        assert await eventually(lambda: pending(database) == 0)

        # Again while connected: the connection is cut, events are committed, it comes back.
        await proxy.close()
        commit_events(database, range(6, 11))
        await asyncio.sleep(1.0)
        assert pending(database) == 5
        await proxy.open()
        assert await eventually(lambda: pending(database) == 0, timeout=30)
    await proxy.close()

    messages = await read_queue(queue_name(settings))
    assert sorted({json.loads(message.body)["data"]["user_id"] for message in messages}) == list(range(1, 11))


class RelayThatDiesAfterPublishing(OutboxRelay):
    """Publishes, gets the broker's confirms, and dies before marking the rows:
    the process's database transaction is rolled back, as it would be on a crash."""

    def _mark(self, session, rows, refused):
        raise SystemExit("killed between publish and mark-sent")


async def test_a_relay_killed_between_publish_and_mark_causes_a_duplicate_applied_once(database, settings):
    await declare_queue(settings)
    commit_events(database, range(1, 21))
    dying = RelayThatDiesAfterPublishing(database=database, outbox=outbox, settings=settings)
    with pytest.raises(SystemExit):
        await dying.run(asyncio.Event())
    assert pending(database) == 20

    async with running(relay(database, settings)):
        assert await eventually(lambda: pending(database) == 0)
    assert len(await queued_event_ids(settings)) == 40  # every event is in the queue twice

    duplicates_before = duplicates_skipped()
    async with running(consumer(database, settings)):
        assert await eventually(lambda: duplicates_skipped() - duplicates_before == 20)
    assert scalar(database, "SELECT count(*) FROM backbone.inbox") == 20
    assert scalar(database, "SELECT count(*) FROM backbone.applied") == 20
    assert scalar(database, "SELECT max(times) FROM backbone.applied") == 1


def duplicates_skipped() -> float:
    return REGISTRY.get_sample_value("events_duplicates_total") or 0.0


async def queued_event_ids(settings) -> list[str]:
    """The ids in the queue, put back afterwards (their delivery count aside, unchanged)."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name(settings))
        ids = []
        taken = []
        while (message := await queue.get(fail=False)) is not None:
            ids.append(json.loads(message.body)["id"])
            taken.append(message)
        for message in taken:
            await message.nack(requeue=True)
        return ids


async def test_the_same_event_delivered_many_times_is_applied_once(database, settings):
    await declare_queue(settings)
    await publish_raw(settings, envelope_bytes(user_registered(7)), "user.registered", times=5)
    await publish_raw(settings, envelope_bytes(user_registered(8)), "user.registered")  # arrives last

    async with running(consumer(database, settings)):
        assert await eventually(lambda: scalar(database, "SELECT count(*) FROM backbone.inbox") == 2)
    assert scalar(database, "SELECT times FROM backbone.applied WHERE user_id = 7") == 1
    assert await read_queue(queue_name(settings)) == []


async def test_poison_goes_to_the_dead_letter_queue_and_the_queue_keeps_flowing(database, settings):
    await declare_queue(settings)
    await publish_raw(settings, envelope_bytes(user_registered(1, POISON_EMAIL)), "user.registered")
    await publish_raw(settings, b"{not json", "user.registered")
    await publish_raw(settings, envelope_bytes(user_registered(2)), "user.registered")

    dead_letters = Topology(settings.event_namespace).dead_letter_queue(SERVICE)
    collected = []

    async def both_dead_lettered() -> bool:
        collected.extend(await read_queue(dead_letters))
        return len(collected) >= 2

    async with running(consumer(database, settings)):
        assert await eventually(lambda: scalar(database, "SELECT count(*) FROM backbone.applied") == 1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not await both_dead_lettered() and loop.time() < deadline:
            await asyncio.sleep(0.1)
    bodies = sorted(message.body for message in collected)
    assert len(bodies) == 2
    assert b"{not json" in bodies
    assert any(POISON_EMAIL.encode() in body for body in bodies)
    assert scalar(database, "SELECT user_id FROM backbone.applied") == 2


async def test_a_commit_wakes_the_idle_relay_without_waiting_for_a_poll(database, settings):
    await declare_queue(settings)
    async with running(relay(database, settings, idle_poll_seconds=60)):
        await asyncio.sleep(0.5)  # let it go idle
        commit_events(database, [1])
        # Far sooner than the 60 s poll: only the NOTIFY can have woken it.
        assert await eventually(lambda: pending(database) == 0, timeout=10)


async def test_two_relays_at_once_publish_every_event_once(database, settings):
    await declare_queue(settings)
    commit_events(database, range(1, 401))
    async with running(relay(database, settings, batch_size=20)), running(relay(database, settings, batch_size=20)):
        assert await eventually(lambda: pending(database) == 0)
    messages = await read_queue(queue_name(settings))
    ids = [json.loads(message.body)["id"] for message in messages]
    assert len(ids) == 400
    assert len(set(ids)) == 400


async def test_a_stopped_consumer_loses_nothing_and_applies_nothing_twice(database, settings):
    await declare_queue(settings)
    for user_id in range(1, 1001):
        await publish_raw(settings, envelope_bytes(user_registered(user_id)), "user.registered")
    async with running(consumer(database, settings)):
        # Stop in the middle of the stream.
        await eventually(lambda: scalar(database, "SELECT count(*) FROM backbone.inbox") >= 100)
    async with running(consumer(database, settings)):
        assert await eventually(lambda: scalar(database, "SELECT count(*) FROM backbone.inbox") == 1000)
    assert scalar(database, "SELECT count(*) FROM backbone.applied") == 1000
    assert scalar(database, "SELECT max(times) FROM backbone.applied") == 1
