"""Every SQL statement of the votes service."""

from collections.abc import Sequence

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.db import AnyRow
from votes.models import deleted_users, posts, votes


# Advisory locks, by kind and id. A vote holds its voter's and its post's shared, so
# voters never wait for each other; the deletion of a user or of a post, and the
# recount of a post, hold them exclusively, so no vote commits across them.
def _lock_key(kind: str, parameter: str) -> str:
    return f"hashtextextended('votes.{kind}.' || CAST(CAST(:{parameter} AS bigint) AS text), 0)"


_LOCK_VOTE = text(
    f"SELECT pg_advisory_xact_lock_shared({_lock_key('user', 'user_id')}),"
    f" pg_advisory_xact_lock_shared({_lock_key('post', 'post_id')})"
)
_LOCK_USER = text(f"SELECT pg_advisory_xact_lock({_lock_key('user', 'user_id')})")
_LOCK_POST = text(f"SELECT pg_advisory_xact_lock({_lock_key('post', 'post_id')})")
# One statement for many posts, taking their locks in id order (so two never deadlock).
_LOCK_POSTS = (
    "SELECT count({function}(hashtextextended('votes.post.' || CAST(id AS text), 0)))"
    " FROM (SELECT unnest(CAST(:post_ids AS bigint[])) AS id ORDER BY id) AS ordered"
)
_LOCK_POSTS_SHARED = text(_LOCK_POSTS.format(function="pg_advisory_xact_lock_shared"))
_LOCK_POSTS_EXCLUSIVE = text(_LOCK_POSTS.format(function="pg_advisory_xact_lock"))


async def lock_vote(session: AsyncSession, *, user_id: int, post_id: int) -> None:
    """Taken before anything of the vote is read: what is read next is then what the vote commits against."""
    await session.execute(_LOCK_VOTE, {"user_id": user_id, "post_id": post_id})


async def lock_user_for_deletion(session: AsyncSession, user_id: int) -> None:
    await session.execute(_LOCK_USER, {"user_id": user_id})


async def lock_post_for_deletion(session: AsyncSession, post_id: int) -> None:
    await session.execute(_LOCK_POST, {"post_id": post_id})


async def voter_and_post(session: AsyncSession, *, user_id: int, post_id: int) -> AnyRow:
    """Whether the voter was deleted, and the post from the replica (its columns None if unknown)."""
    result = await session.execute(
        text(
            "SELECT EXISTS (SELECT FROM votes.deleted_users WHERE user_id = :user_id) AS voter_deleted,"
            " p.id, p.owner_id, p.published, p.deleted, p.count_epoch"
            " FROM (SELECT) AS one LEFT JOIN votes.posts AS p ON p.id = :post_id"
        ),
        {"user_id": user_id, "post_id": post_id},
    )
    return result.one()


async def add_deleted_user(session: AsyncSession, user_id: int) -> None:
    await session.execute(insert(deleted_users).values(user_id=user_id).on_conflict_do_nothing())


# ---- the post replica ----


async def post(session: AsyncSession, post_id: int) -> AnyRow | None:
    result = await session.execute(
        select(posts.c.id, posts.c.owner_id, posts.c.published, posts.c.deleted, posts.c.count_epoch).where(
            posts.c.id == post_id
        )
    )
    return result.first()


async def upsert_post(session: AsyncSession, *, post_id: int, owner_id: int, published: bool, revision: int) -> None:
    """Keeps the highest revision seen; a tombstone stays a tombstone."""
    statement = insert(posts).values(id=post_id, owner_id=owner_id, published=published, revision=revision)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[posts.c.id],
            set_={"owner_id": owner_id, "published": published, "revision": revision},
            where=(posts.c.revision < statement.excluded.revision) & posts.c.deleted.is_(False),
        )
    )


async def tombstone_post(session: AsyncSession, *, post_id: int, owner_id: int) -> None:
    """Marks the post deleted and drops its votes, under the post's exclusive lock: a vote on it
    either committed before (and goes with the others) or finds it deleted."""
    await lock_post_for_deletion(session, post_id)
    statement = insert(posts).values(id=post_id, owner_id=owner_id, published=False, revision=0, deleted=True)
    await session.execute(statement.on_conflict_do_update(index_elements=[posts.c.id], set_={"deleted": True}))
    await session.execute(delete(votes).where(votes.c.post_id == post_id))


# ---- votes ----


async def cast_vote(session: AsyncSession, *, user_id: int, post_id: int) -> bool:
    """False if the user had already voted on the post."""
    added = await session.execute(
        insert(votes).values(user_id=user_id, post_id=post_id).on_conflict_do_nothing().returning(votes.c.post_id)
    )
    return added.first() is not None


async def retract_vote(session: AsyncSession, *, user_id: int, post_id: int) -> bool:
    """False if there was no such vote."""
    removed = await session.execute(
        delete(votes).where(votes.c.user_id == user_id, votes.c.post_id == post_id).returning(votes.c.post_id)
    )
    return removed.first() is not None


async def remove_votes_of(session: AsyncSession, user_id: int) -> list[AnyRow]:
    """Deletes a user's votes; returns the live posts they were on with their count epochs, in id order."""
    removed = await session.scalars(delete(votes).where(votes.c.user_id == user_id).returning(votes.c.post_id))
    post_ids = sorted(removed)
    if not post_ids:
        return []
    # Shared, like a vote: a recount of these posts waits for this retraction, or ran before it.
    await session.execute(_LOCK_POSTS_SHARED, {"post_ids": post_ids})
    result = await session.execute(
        select(posts.c.id, posts.c.count_epoch)
        .where(posts.c.id.in_(post_ids), posts.c.deleted.is_(False))
        .order_by(posts.c.id)
    )
    return list(result.all())


async def recount(session: AsyncSession, post_ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """Each live post's `(id, votes, count_epoch)`: its votes counted under its exclusive lock, at
    a new epoch. Every vote event of an earlier epoch is in that count; every later one is not."""
    ids = sorted(set(post_ids))
    if not ids:
        return []
    await session.execute(_LOCK_POSTS_EXCLUSIVE, {"post_ids": ids})
    epochs: dict[int, int] = dict(
        (
            await session.execute(
                posts.update()
                .where(posts.c.id.in_(ids), posts.c.deleted.is_(False))
                .values(count_epoch=posts.c.count_epoch + 1)
                .returning(posts.c.id, posts.c.count_epoch)
            )
        ).all()
    )
    counted: dict[int, int] = dict(
        (
            await session.execute(
                select(votes.c.post_id, func.count()).where(votes.c.post_id.in_(list(epochs))).group_by(votes.c.post_id)
            )
        ).all()
    )
    return [(post_id, counted.get(post_id, 0), epochs[post_id]) for post_id in sorted(epochs)]
