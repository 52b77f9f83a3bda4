"""The outbox relay and the event consumer against the real PostgreSQL and RabbitMQ:
nothing acknowledged is lost, nothing is applied twice, poison does not block the queue."""

import asyncio
import contextlib
import json
import logging

import pytest
from prometheus_client import REGISTRY

from tally_shared.events import OutboxRelay, RelayTuning, UserRegistered, record_event

from .conftest import (
    POISON_EMAIL,
    SERVICE,
    apply_user_registered,
    commit_events,
    consumer,
    dead_letter_queue_name,
    declare_queue,
    envelope_bytes,
    equals,
    eventually,
    outbox,
    publish_raw,
    queue_depth,
    queue_name,
    read_queue,
    running,
    scalar,
    through,
    user_registered,
)


def relay(database, settings, **tuning) -> OutboxRelay:
    return OutboxRelay(database=database, outbox=outbox, settings=settings, tuning=RelayTuning(**tuning))


async def pending(database) -> int:
    return await scalar(database, "SELECT count(*) FROM backbone.outbox WHERE published_at IS NULL")


async def inbox_count(database) -> int:
    return await scalar(database, "SELECT count(*) FROM backbone.inbox")


def user_ids(messages) -> list[int]:
    return sorted(json.loads(message.body)["data"]["user_id"] for message in messages)


def duplicates_skipped() -> float:
    return REGISTRY.get_sample_value("events_duplicates_total") or 0.0


async def test_a_rolled_back_transaction_publishes_nothing(database, settings):
    await declare_queue(settings)
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await record_event(session, outbox, user_registered(1), producer=SERVICE)
            raise RuntimeError("the change fails after its event was written")
    await commit_events(database, [2])  # the control: this one must arrive, and alone

    async with running(relay(database, settings)):
        assert await eventually(lambda: equals(pending(database), 0))
    assert user_ids(await read_queue(queue_name(settings))) == [2]
    assert await scalar(database, "SELECT count(*) FROM backbone.outbox") == 1


async def test_events_committed_while_the_broker_is_unreachable_are_published_once_it_is_back(
    database, settings, proxy
):
    await declare_queue(settings)
    await proxy.close()  # the relay starts with nothing answering on its broker port
    await commit_events(database, range(1, 6))

    async with running(relay(database, through(proxy, settings), reconnect_delay_seconds=0.2)):
        await asyncio.sleep(1.0)  # time to do the wrong thing, if it would
        assert await pending(database) == 5
        assert await queue_depth(queue_name(settings)) == 0
        await proxy.open()
        assert await eventually(lambda: equals(pending(database), 0))
    assert user_ids(await read_queue(queue_name(settings))) == [1, 2, 3, 4, 5]
    assert await scalar(database, "SELECT count(*) FROM backbone.outbox WHERE published_at IS NOT NULL") == 5


async def test_a_relay_whose_connection_is_cut_reconnects_and_publishes_what_was_committed_meanwhile(
    database, settings, proxy
):
    await declare_queue(settings)
    async with running(relay(database, through(proxy, settings), reconnect_delay_seconds=0.2)):
        await commit_events(database, [1])
        assert await eventually(lambda: equals(pending(database), 0))  # connected through the proxy

        await proxy.close()
        await commit_events(database, range(2, 7))
        await asyncio.sleep(1.0)
        assert await pending(database) == 5
        assert await queue_depth(queue_name(settings)) == 1

        await proxy.open()
        assert await eventually(lambda: equals(pending(database), 0))
    # At least once: a publish cut mid-confirm may be repeated, none may be missing.
    assert sorted(set(user_ids(await read_queue(queue_name(settings))))) == [1, 2, 3, 4, 5, 6]


async def test_an_event_no_queue_is_bound_to_yet_stays_pending_until_one_is(database, settings):
    await commit_events(database, [1])
    # A refused row is retried when due, which an idle relay notices at its next poll.
    async with running(relay(database, settings)):
        # Mandatory publishing: the broker returns the unroutable message, the row is kept.
        assert await eventually(
            lambda: scalar(database, "SELECT attempts > 0 AND last_error IS NOT NULL FROM backbone.outbox")
        )
        assert await pending(database) == 1
        await declare_queue(settings)
        assert await eventually(lambda: equals(pending(database), 0))
    assert user_ids(await read_queue(queue_name(settings))) == [1]


class RelayThatDiesAfterPublishing(OutboxRelay):
    """Publishes, gets the broker's confirms, and dies before marking the rows:
    its database transaction is rolled back, as it would be when the process dies."""

    async def _mark(self, session, rows, refused):
        raise SystemExit("killed between publish and mark-sent")


async def test_a_relay_killed_between_publish_and_mark_causes_a_duplicate_applied_once(database, settings):
    await declare_queue(settings)
    await commit_events(database, range(1, 21))
    dying = RelayThatDiesAfterPublishing(database=database, outbox=outbox, settings=settings)
    with pytest.raises(SystemExit):
        await dying.run(asyncio.Event())
    assert await pending(database) == 20
    assert await queue_depth(queue_name(settings)) == 20

    async with running(relay(database, settings)):
        assert await eventually(lambda: equals(pending(database), 0))
    assert await queue_depth(queue_name(settings)) == 40  # every event is in the queue twice

    duplicates_before = duplicates_skipped()
    async with running(consumer(database, settings)):
        assert await eventually(lambda: duplicates_skipped() - duplicates_before == 20)
    assert await queue_depth(queue_name(settings)) == 0
    assert await inbox_count(database) == 20
    assert await scalar(database, "SELECT count(*) FROM backbone.applied") == 20
    assert await scalar(database, "SELECT max(times) FROM backbone.applied") == 1


async def test_the_same_event_delivered_many_times_is_applied_once(database, settings):
    await declare_queue(settings)
    await publish_raw(settings, [envelope_bytes(user_registered(7))] * 5)
    await publish_raw(settings, [envelope_bytes(user_registered(8))])  # arrives last

    async with running(consumer(database, settings)):
        assert await eventually(lambda: equals(inbox_count(database), 2))
        assert await eventually(lambda: equals(scalar(database, "SELECT count(*) FROM backbone.applied"), 2))
    assert await scalar(database, "SELECT times FROM backbone.applied WHERE user_id = 7") == 1
    assert await scalar(database, "SELECT times FROM backbone.applied WHERE user_id = 8") == 1
    assert await read_queue(queue_name(settings)) == []


async def test_poison_goes_to_the_dead_letter_queue_and_the_queue_keeps_flowing(database, settings):
    await declare_queue(settings)
    attempts = []

    async def apply_counting_attempts(session, event, envelope):
        if event.email == POISON_EMAIL:
            attempts.append(envelope.id)
        await apply_user_registered(session, event, envelope)

    await publish_raw(settings, [envelope_bytes(user_registered(1, POISON_EMAIL))])
    await publish_raw(settings, [b"{not json"])
    await publish_raw(settings, [envelope_bytes(user_registered(2))])

    dead_letters = []

    async def both_dead_lettered() -> bool:
        dead_letters.extend(await read_queue(dead_letter_queue_name(settings)))
        return len(dead_letters) >= 2

    async with running(consumer(database, settings, {UserRegistered: apply_counting_attempts})):
        assert await eventually(both_dead_lettered)
        # Published after the poison was given up on: the queue still flows.
        await publish_raw(settings, [envelope_bytes(user_registered(3))])
        assert await eventually(lambda: equals(scalar(database, "SELECT count(*) FROM backbone.applied"), 2))

    by_body = {message.body: message for message in dead_letters}
    assert len(by_body) == 2
    unreadable = by_body.pop(b"{not json")
    (poison,) = by_body.values()
    assert json.loads(poison.body)["data"]["email"] == POISON_EMAIL
    # Given up on after the delivery limit (each delivery is tried in its batch, then alone);
    # the unreadable one was never retried.
    assert settings.event_delivery_limit <= len(attempts) <= 2 * (settings.event_delivery_limit + 1)
    assert unreadable.headers["x-death"][0]["reason"] == "rejected"
    assert poison.headers["x-death"][0]["reason"] == "delivery_limit"
    assert await scalar(database, "SELECT array_agg(user_id ORDER BY user_id) FROM backbone.applied") == [2, 3]
    assert await inbox_count(database) == 2
    assert await queue_depth(queue_name(settings)) == 0


async def test_an_idle_relay_notices_a_commit_within_its_longest_poll(database, settings):
    await declare_queue(settings)
    async with running(relay(database, settings, poll_max_seconds=0.2)):
        await commit_events(database, [1])
        assert await eventually(lambda: equals(pending(database), 0))
        await asyncio.sleep(1.0)  # idle: its polls have backed off to the longest

        await commit_events(database, [2])
        committed = asyncio.get_running_loop().time()
        assert await eventually(lambda: equals(pending(database), 0), timeout=5)
        assert asyncio.get_running_loop().time() - committed < 0.2 + 0.3
    assert user_ids(await read_queue(queue_name(settings))) == [1, 2]


class RelayMeetingItsTwin(OutboxRelay):
    """Holds its first claimed batch until the other relay has claimed one as well,
    so the two hold row locks at the same time: only SKIP LOCKED lets them both go on."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.claimed_ids: list[int] = []
        self.has_claimed = asyncio.Event()
        self.waited_for_twin = False
        self.met_twin = False
        self.twin: RelayMeetingItsTwin | None = None

    async def _claim_due_rows(self, session):
        rows = await super()._claim_due_rows(session)
        self.claimed_ids.extend(row.id for row in rows)
        return rows

    async def _publish(self, exchange, row):
        self.has_claimed.set()
        if not self.waited_for_twin:  # once, while the first batch is held
            self.waited_for_twin = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.twin.has_claimed.wait(), timeout=10)
                self.met_twin = True
        await super()._publish(exchange, row)


async def test_two_relays_at_once_publish_every_event_exactly_once(database, settings):
    await declare_queue(settings)
    await commit_events(database, range(1, 201))
    first, second = (
        RelayMeetingItsTwin(database=database, outbox=outbox, settings=settings, tuning=RelayTuning(batch_size=20))
        for _ in range(2)
    )
    first.twin, second.twin = second, first
    async with running(first), running(second):
        assert await eventually(lambda: equals(pending(database), 0))

    assert first.met_twin and second.met_twin
    assert not set(first.claimed_ids) & set(second.claimed_ids)
    assert len(first.claimed_ids) + len(second.claimed_ids) == 200
    messages = await read_queue(queue_name(settings))
    ids = [json.loads(message.body)["id"] for message in messages]
    assert len(ids) == 200
    assert len(set(ids)) == 200


async def test_a_consumer_stopped_with_a_batch_in_flight_loses_nothing_and_applies_nothing_twice(
    database, settings, caplog
):
    await declare_queue(settings)
    total = 1000
    await publish_raw(settings, (envelope_bytes(user_registered(user_id)) for user_id in range(1, total + 1)))

    in_flight = asyncio.Event()
    release = asyncio.Event()
    handled = set()

    async def apply_when_released(session, event, envelope):
        handled.add(event.user_id)
        in_flight.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), timeout=15)
        await apply_user_registered(session, event, envelope)

    stop = asyncio.Event()
    stopping = consumer(database, settings, {UserRegistered: apply_when_released})
    task = asyncio.create_task(stopping.run(stop))
    try:
        assert await eventually(in_flight.is_set)
        caplog.set_level(logging.INFO, logger="tally_shared.events.consumer")
        stop.set()
        # It has cancelled its subscription while the batch is still inside its transaction.
        # (A quorum queue keeps counting a cancelled consumer until its deliveries settle.)
        assert await eventually(lambda: "stopping: no new deliveries" in caplog.text)
        assert not task.done()
    finally:
        release.set()
        await asyncio.wait_for(task, timeout=30)

    applied_by_first = await inbox_count(database)
    # The batch in flight and every delivery already received were committed, not dropped.
    assert applied_by_first > 0
    assert set(await scalar(database, "SELECT array_agg(user_id) FROM backbone.applied")) == handled
    # Nothing acked without being applied: every other delivery is back in the queue. (Possibly a
    # few applied ones too: RabbitMQ 3.10's quorum queues may drop acks sent just before a
    # connection closes, and redeliver; the inbox must then skip them.)
    assert await eventually(lambda: _depth_at_least(settings, total - applied_by_first))

    async with running(consumer(database, settings)):
        assert await eventually(lambda: equals(inbox_count(database), total))
    assert await scalar(database, "SELECT count(*) FROM backbone.applied") == total
    assert await scalar(database, "SELECT max(times) FROM backbone.applied") == 1
    assert await queue_depth(queue_name(settings)) == 0


async def _depth_at_least(settings, expected: int) -> bool:
    return await queue_depth(queue_name(settings)) >= expected
