"""The posts service's rules: who sees, changes and deletes which post, and the events that tell."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from posts import repository
from posts.models import outbox
from posts.repository import FeedOrder
from posts.schemas import PostIn
from tally_shared.database import AnyRow
from tally_shared.errors import AccountDeletedError, ForbiddenError, NotFoundError
from tally_shared.events import Event, PostCreated, PostDeleted, PostUpdated
from tally_shared.identity import Caller
from tally_shared.outbox import record_event

PRODUCER = "posts"


class PostNotFoundError(NotFoundError):
    detail = "Post not found"


class NotPostOwnerError(ForbiddenError):
    detail = "Not authorized to perform requested action"


def _post(row: AnyRow) -> dict[str, Any]:
    # Plain dicts: the route's response model validates and serialises them once.
    return {
        "id": row.id,
        "title": row.title,
        "content": row.content,
        "published": row.published,
        "created_at": row.created_at,
        "owner_id": row.owner_id,
        "owner": {"id": row.owner_id, "email": row.owner_email, "created_at": row.owner_created_at},
    }


def _with_votes(row: AnyRow) -> dict[str, Any]:
    return {"Post": _post(row), "votes": row.votes}


def _visible(row: AnyRow | None, caller: Caller) -> AnyRow:
    # Someone else's draft does not exist, as far as the caller can tell.
    if row is None or not (row.published or row.owner_id == caller.user_id):
        raise PostNotFoundError()
    return row


async def _as_written(session: AsyncSession, post_id: int) -> AnyRow:
    row = await repository.post_by_id(session, post_id)
    assert row is not None, "read back in the transaction that wrote it"
    return row


async def _publish(session: AsyncSession, event: Event) -> None:
    await record_event(session, outbox, event, producer=PRODUCER)


async def feed(
    session: AsyncSession, caller: Caller, *, limit: int, skip: int, search: str | None, order: FeedOrder
) -> list[dict[str, Any]]:
    rows = await repository.feed(session, viewer_id=caller.user_id, limit=limit, skip=skip, search=search, order=order)
    return [_with_votes(row) for row in rows]


async def get(session: AsyncSession, caller: Caller, post_id: int) -> dict[str, Any]:
    return _with_votes(_visible(await repository.post_by_id(session, post_id), caller))


async def create(session: AsyncSession, caller: Caller, post: PostIn) -> dict[str, Any]:
    # A user registered a moment ago can post at once: their replica row is made
    # from the gateway's identity if `user.registered` has not arrived yet.
    owner = await repository.ensure_user(session, user_id=caller.user_id, email=caller.email)
    if owner.deleted_at is not None:
        raise AccountDeletedError()
    post_id = await repository.add_post(
        session, owner_id=caller.user_id, title=post.title, content=post.content, published=post.published
    )
    row = await _as_written(session, post_id)
    await _publish(
        session,
        PostCreated(
            post_id=row.id,
            owner_id=row.owner_id,
            published=row.published,
            revision=row.revision,
            created_at=row.created_at,
        ),
    )
    return _post(row)


async def _owned(session: AsyncSession, caller: Caller, post_id: int) -> AnyRow:
    row = _visible(await repository.post_by_id(session, post_id, for_update=True), caller)
    if row.owner_id != caller.user_id:
        raise NotPostOwnerError()
    return row


async def replace(session: AsyncSession, caller: Caller, post_id: int, post: PostIn) -> dict[str, Any]:
    await _owned(session, caller, post_id)
    await repository.replace_post(session, post_id, title=post.title, content=post.content, published=post.published)
    row = await _as_written(session, post_id)
    await _publish(
        session,
        PostUpdated(post_id=row.id, owner_id=row.owner_id, published=row.published, revision=row.revision),
    )
    return _post(row)


async def delete(session: AsyncSession, caller: Caller, post_id: int) -> None:
    row = await _owned(session, caller, post_id)
    await repository.delete_post(session, post_id)
    await _publish(session, PostDeleted(post_id=row.id, owner_id=row.owner_id))


async def delete_everything_of(session: AsyncSession, user_id: int) -> int:
    """A deleted user's posts go, each with a `post.deleted` so their votes go too."""
    await repository.tombstone_user(session, user_id)
    post_ids = await repository.delete_posts_of(session, user_id)
    for post_id in post_ids:
        await _publish(session, PostDeleted(post_id=post_id, owner_id=user_id))
    return len(post_ids)
