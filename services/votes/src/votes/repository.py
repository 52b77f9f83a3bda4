"""Every SQL statement of the votes service."""

from collections.abc import Sequence

from sqlalchemy import Row, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from votes.models import deleted_users, posts, votes

# Serialises a user's votes against the deletion of that user: a vote holds it
# shared, `user.deleted` exclusively, so no vote can slip in after the deletion
# removed the user's votes.
_USER_LOCK = "SELECT pg_advisory_xact_lock{mode}(hashtextextended('votes.user.' || :user_id, 0))"


def lock_voter(session: Session, user_id: int) -> None:
    session.execute(text(_USER_LOCK.format(mode="_shared")), {"user_id": user_id})


def lock_user_for_deletion(session: Session, user_id: int) -> None:
    session.execute(text(_USER_LOCK.format(mode="")), {"user_id": user_id})


def voter_and_post(session: Session, *, user_id: int, post_id: int) -> Row:
    """Whether the voter was deleted, and the post from the replica (its columns None if unknown)."""
    return session.execute(
        text(
            "SELECT EXISTS (SELECT FROM votes.deleted_users WHERE user_id = :user_id) AS voter_deleted,"
            " p.id, p.owner_id, p.published, p.deleted"
            " FROM (SELECT) AS one LEFT JOIN votes.posts AS p ON p.id = :post_id"
        ),
        {"user_id": user_id, "post_id": post_id},
    ).one()


def add_deleted_user(session: Session, user_id: int) -> None:
    session.execute(insert(deleted_users).values(user_id=user_id).on_conflict_do_nothing())


# ---- the post replica ----


def post(session: Session, post_id: int) -> Row | None:
    return session.execute(
        select(posts.c.id, posts.c.owner_id, posts.c.published, posts.c.deleted).where(posts.c.id == post_id)
    ).first()


def upsert_post(session: Session, *, post_id: int, owner_id: int, published: bool, revision: int) -> None:
    """Keeps the highest revision seen; a tombstone stays a tombstone."""
    statement = insert(posts).values(id=post_id, owner_id=owner_id, published=published, revision=revision)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[posts.c.id],
            set_={"owner_id": owner_id, "published": published, "revision": revision},
            where=(posts.c.revision < statement.excluded.revision) & posts.c.deleted.is_(False),
        )
    )


def tombstone_post(session: Session, *, post_id: int, owner_id: int) -> None:
    """Marks the post deleted (locking its row, so no vote on it commits after this) and drops its votes."""
    statement = insert(posts).values(id=post_id, owner_id=owner_id, published=False, revision=0, deleted=True)
    session.execute(statement.on_conflict_do_update(index_elements=[posts.c.id], set_={"deleted": True, "votes": 0}))
    session.execute(delete(votes).where(votes.c.post_id == post_id))


# ---- votes and counts ----


# A vote and the post's new count in one statement (one round trip): the count changes only
# if the vote row did, and only on a live post; `changed` tells 409/404 from a deleted post.
_CHANGE_VOTE = """
WITH changed AS ({change}),
counted AS (
    UPDATE votes.posts SET votes = votes {sign} 1, votes_version = votes_version + 1
    WHERE id = :post_id AND NOT deleted AND EXISTS (SELECT FROM changed)
    RETURNING votes, votes_version
)
SELECT EXISTS (SELECT FROM changed) AS changed, counted.votes, counted.votes_version
FROM (SELECT) AS one LEFT JOIN counted ON true
"""
_CAST = text(
    _CHANGE_VOTE.format(
        change="INSERT INTO votes.votes (user_id, post_id) VALUES (:user_id, :post_id)"
        " ON CONFLICT DO NOTHING RETURNING post_id",
        sign="+",
    )
)
_RETRACT = text(
    _CHANGE_VOTE.format(
        change="DELETE FROM votes.votes WHERE user_id = :user_id AND post_id = :post_id RETURNING post_id",
        sign="-",
    )
)


def cast_vote(session: Session, *, user_id: int, post_id: int) -> Row:
    """`changed` false if the user had already voted; `votes` None if the post was deleted meanwhile."""
    return session.execute(_CAST, {"user_id": user_id, "post_id": post_id}).one()


def retract_vote(session: Session, *, user_id: int, post_id: int) -> Row:
    """`changed` false if there was no such vote; `votes` None if the post was deleted meanwhile."""
    return session.execute(_RETRACT, {"user_id": user_id, "post_id": post_id}).one()


def change_count(session: Session, post_id: int, delta: int) -> Row | None:
    """The post's new `(votes, votes_version)`, or None if the post was deleted meanwhile."""
    return session.execute(
        update(posts)
        .where(posts.c.id == post_id, posts.c.deleted.is_(False))
        .values(votes=posts.c.votes + delta, votes_version=posts.c.votes_version + 1)
        .returning(posts.c.votes, posts.c.votes_version)
    ).first()


def remove_votes_of(session: Session, user_id: int) -> Sequence[int]:
    """Deletes a user's votes; returns the posts they were on, in id order."""
    return sorted(session.execute(delete(votes).where(votes.c.user_id == user_id).returning(votes.c.post_id)).scalars())


def true_counts(session: Session, post_ids: Sequence[int]) -> list[Row]:
    """Each live post's count as recorded and as counted from its votes, its rows locked (in id
    order) so that no vote on them commits until the transaction ends."""
    ids = sorted(post_ids)
    locked = session.execute(
        select(posts.c.id, posts.c.votes, posts.c.votes_version)
        .where(posts.c.id.in_(ids), posts.c.deleted.is_(False))
        .order_by(posts.c.id)
        .with_for_update()
    ).all()
    counted = dict(
        session.execute(
            select(votes.c.post_id, func.count()).where(votes.c.post_id.in_(ids)).group_by(votes.c.post_id)
        ).all()
    )
    return [(row.id, row.votes, row.votes_version, counted.get(row.id, 0)) for row in locked]


def set_count(session: Session, post_id: int, count: int) -> int:
    """Sets a post's count; returns its new version."""
    return session.execute(
        update(posts)
        .where(posts.c.id == post_id)
        .values(votes=count, votes_version=posts.c.votes_version + 1)
        .returning(posts.c.votes_version)
    ).scalar_one()
