"""The posts worker's handlers, applied in real transactions: counts by version, users and their cascades."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from posts import repository
from posts.events import BATCH_HANDLERS, HANDLERS
from posts.models import outbox, posts, users
from tally_shared.events import Envelope, UserDeleted, UserRegistered, VoteCast, VoteRetracted

REGISTERED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def database(app):
    return app.state.database


def apply(database, *events) -> None:
    """Applies events as the worker does in one batch: ordered handlers first, then the batch handlers."""
    with database.transaction() as session:
        deferred = {}
        for event in events:
            envelope = Envelope.wrap(event, producer="test", request_id=None)
            if type(event) in BATCH_HANDLERS:
                deferred.setdefault(BATCH_HANDLERS[type(event)], []).append((event, envelope))
            else:
                HANDLERS[type(event)](session, event, envelope)
        for handler, batch in deferred.items():
            handler(session, batch)


def make_post(database, owner_id: int = 1) -> int:
    with database.transaction() as session:
        repository.upsert_registered_user(
            session, user_id=owner_id, email=f"u{owner_id}@x.io", created_at=REGISTERED_AT
        )
        return repository.add_post(session, owner_id=owner_id, title="t", content="c", published=True)


def count_of(database, post_id: int) -> tuple[int, int]:
    with database.transaction() as session:
        row = session.execute(select(posts.c.votes, posts.c.votes_version).where(posts.c.id == post_id)).one()
        return row.votes, row.votes_version


def cast(post_id: int, votes: int, version: int, user_id: int = 7) -> VoteCast:
    return VoteCast(post_id=post_id, user_id=user_id, votes=votes, votes_version=version)


def test_the_highest_version_wins_whatever_the_order(database):
    post_id = make_post(database)
    apply(database, cast(post_id, 3, 3), cast(post_id, 1, 1), cast(post_id, 2, 2))
    assert count_of(database, post_id) == (3, 3)
    # Later batches with older versions (a redelivery, a slow competing worker) change nothing.
    apply(database, cast(post_id, 2, 2))
    apply(database, VoteRetracted(post_id=post_id, user_id=7, votes=1, votes_version=1))
    assert count_of(database, post_id) == (3, 3)
    apply(database, VoteRetracted(post_id=post_id, user_id=7, votes=2, votes_version=4))
    assert count_of(database, post_id) == (2, 4)


def test_counts_for_many_posts_in_one_batch(database):
    first, second = make_post(database), make_post(database)
    apply(database, cast(second, 1, 1), cast(first, 1, 1), cast(second, 2, 2), cast(first, 0, 2))
    assert count_of(database, first) == (0, 2)
    assert count_of(database, second) == (2, 2)


def test_a_count_for_a_post_already_deleted_is_ignored(database):
    apply(database, cast(123456, 5, 5))
    with database.transaction() as session:
        assert session.execute(select(posts).where(posts.c.id == 123456)).first() is None


def test_user_registered_completes_the_row_a_first_post_made(database):
    with database.transaction() as session:
        repository.ensure_user(session, user_id=5, email="five@x.io")
    apply(database, UserRegistered(user_id=5, email="five@x.io", created_at=REGISTERED_AT))
    with database.transaction() as session:
        assert session.execute(select(users.c.created_at).where(users.c.id == 5)).scalar() == REGISTERED_AT


def test_user_deleted_removes_their_posts_and_announces_each(database):
    mine = [make_post(database, owner_id=8) for _ in range(3)]
    others = make_post(database, owner_id=9)
    apply(database, UserDeleted(user_id=8))
    with database.transaction() as session:
        assert session.execute(select(posts.c.id)).scalars().all() == [others]
        announced = session.execute(
            select(outbox.c.envelope).where(outbox.c.event_type == "post.deleted").order_by(outbox.c.id)
        ).scalars()
        assert [envelope["data"]["post_id"] for envelope in announced] == mine
        tombstone = session.execute(select(users).where(users.c.id == 8)).one()
        assert tombstone.email is None and tombstone.deleted_at is not None


def test_a_late_user_registered_does_not_bring_a_deleted_user_back(database):
    apply(database, UserDeleted(user_id=11))
    apply(database, UserRegistered(user_id=11, email="back@x.io", created_at=REGISTERED_AT))
    with database.transaction() as session:
        row = session.execute(select(users).where(users.c.id == 11)).one()
    assert row.email is None and row.deleted_at is not None


@pytest.fixture(autouse=True)
def empty_outbox(database):
    with database.transaction() as session:
        session.execute(text("TRUNCATE posts.outbox"))
