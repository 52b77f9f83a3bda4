"""The posts worker's handlers, applied in real transactions: counts summed from vote events
across reconciliation epochs, users and their cascades."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from posts import repository
from posts.events import BATCH_HANDLERS, HANDLERS
from posts.models import outbox, posts, users
from tally_shared.events import Envelope, UserDeleted, UserRegistered, VoteCast, VoteRetracted
from tally_shared.web import app_state

REGISTERED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def database(app):
    return app_state(app).database


async def apply(database, *events) -> None:
    """Applies events as the worker does in one batch: ordered handlers first, then the batch handlers."""
    async with database.transaction() as session:
        deferred = {}
        for event in events:
            envelope = Envelope.wrap(event, producer="test", request_id=None)
            if type(event) in BATCH_HANDLERS:
                deferred.setdefault(BATCH_HANDLERS[type(event)], []).append((event, envelope))
            else:
                await HANDLERS[type(event)](session, event, envelope)
        for handler, batch in deferred.items():
            await handler(session, batch)


async def make_post(database, owner_id: int = 1) -> int:
    async with database.transaction() as session:
        await repository.upsert_registered_user(
            session, user_id=owner_id, email=f"u{owner_id}@x.io", created_at=REGISTERED_AT
        )
        return await repository.add_post(session, owner_id=owner_id, title="t", content="c", published=True)


async def count_of(database, post_id: int) -> tuple[int, int]:
    async with database.transaction() as session:
        row = (await session.execute(select(posts.c.votes, posts.c.count_epoch).where(posts.c.id == post_id))).one()
        return row.votes, row.count_epoch


def cast(post_id: int, user_id: int = 7, epoch: int = 0) -> VoteCast:
    return VoteCast(post_id=post_id, user_id=user_id, count_epoch=epoch)


def retract(post_id: int, user_id: int = 7, epoch: int = 0) -> VoteRetracted:
    return VoteRetracted(post_id=post_id, user_id=user_id, count_epoch=epoch)


async def reset(database, post_id: int, votes: int, epoch: int) -> None:
    async with database.transaction() as session:
        await repository.reset_counts(session, [(post_id, votes, epoch)])


async def test_votes_add_up_in_any_order_and_across_batches(database):
    post_id = await make_post(database)
    await apply(database, retract(post_id, 1), cast(post_id, 2), cast(post_id, 1), cast(post_id, 3))
    assert await count_of(database, post_id) == (2, 0)
    await apply(database, retract(post_id, 2))
    await apply(database, cast(post_id, 4), cast(post_id, 5))
    assert await count_of(database, post_id) == (3, 0)


async def test_counts_for_many_posts_in_one_batch(database):
    first, second = await make_post(database), await make_post(database)
    await apply(database, cast(second, 1), cast(first, 1), cast(second, 2), retract(first, 1))
    assert await count_of(database, first) == (0, 0)
    assert await count_of(database, second) == (2, 0)


async def test_a_reset_count_includes_every_earlier_epoch_and_none_of_the_later(database):
    post_id = await make_post(database)
    await apply(database, cast(post_id, 1, epoch=0))
    # Reconciliation recounted 3 votes at epoch 1: two epoch-0 votes were still on their way.
    await reset(database, post_id, votes=3, epoch=1)
    assert await count_of(database, post_id) == (3, 1)
    await apply(database, cast(post_id, 2, epoch=0), cast(post_id, 3, epoch=0))  # in the recount: skipped
    await apply(database, cast(post_id, 4, epoch=1), retract(post_id, 1, epoch=1))  # after it: applied
    assert await count_of(database, post_id) == (3, 1)
    # An older recount (a slow reconciler) changes nothing.
    await reset(database, post_id, votes=0, epoch=0)
    assert await count_of(database, post_id) == (3, 1)


async def test_votes_of_an_epoch_whose_reset_never_arrived_still_count(database):
    """A reconciler that died after the votes service recounted: nothing is lost, nothing doubled."""
    post_id = await make_post(database)
    await apply(database, cast(post_id, 1, epoch=0), cast(post_id, 2, epoch=1), cast(post_id, 3, epoch=0))
    assert await count_of(database, post_id) == (3, 0)


async def test_the_worker_waits_for_a_reconciliation_page_in_progress(database):
    post_id = await make_post(database)
    async with database.transaction() as reconciler:
        assert [row.id for row in await repository.lock_count_page(reconciler, after_id=post_id - 1, size=1)] == [
            post_id
        ]
        applying = asyncio.create_task(apply(database, cast(post_id, 9, epoch=1)))
        await asyncio.sleep(0.3)
        assert not applying.done(), "a vote event must wait until the page's counts are reset"
        await repository.reset_counts(reconciler, [(post_id, 5, 1)])
    await asyncio.wait_for(applying, timeout=5)
    assert await count_of(database, post_id) == (6, 1)


async def test_a_vote_for_a_post_already_deleted_is_ignored(database):
    await apply(database, cast(123456))
    async with database.transaction() as session:
        assert (await session.execute(select(posts).where(posts.c.id == 123456))).first() is None


async def test_user_registered_completes_the_row_a_first_post_made(database):
    async with database.transaction() as session:
        await repository.ensure_user(session, user_id=5, email="five@x.io")
    await apply(database, UserRegistered(user_id=5, email="five@x.io", created_at=REGISTERED_AT))
    async with database.transaction() as session:
        assert await session.scalar(select(users.c.created_at).where(users.c.id == 5)) == REGISTERED_AT


async def test_user_deleted_removes_their_posts_and_announces_each(database):
    mine = [await make_post(database, owner_id=8) for _ in range(3)]
    others = await make_post(database, owner_id=9)
    await apply(database, UserDeleted(user_id=8))
    async with database.transaction() as session:
        assert (await session.scalars(select(posts.c.id))).all() == [others]
        announced = await session.scalars(
            select(outbox.c.envelope).where(outbox.c.event_type == "post.deleted").order_by(outbox.c.id)
        )
        assert [envelope["data"]["post_id"] for envelope in announced] == mine
        tombstone = (await session.execute(select(users).where(users.c.id == 8))).one()
        assert tombstone.email is None and tombstone.deleted_at is not None


async def test_a_late_user_registered_does_not_bring_a_deleted_user_back(database):
    await apply(database, UserDeleted(user_id=11))
    await apply(database, UserRegistered(user_id=11, email="back@x.io", created_at=REGISTERED_AT))
    async with database.transaction() as session:
        row = (await session.execute(select(users).where(users.c.id == 11))).one()
    assert row.email is None and row.deleted_at is not None


@pytest.fixture(autouse=True)
async def empty_outbox(database):
    async with database.transaction() as session:
        await session.execute(text("TRUNCATE posts.outbox"))
