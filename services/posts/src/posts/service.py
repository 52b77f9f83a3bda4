"""The posts service's rules: who sees, changes and deletes which post, and the events that tell."""

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from posts import repository
from posts.models import outbox
from posts.repository import FeedOrder
from posts.schemas import Cursor, NewCursor, PostIn, TopCursor
from tally_shared.db import AnyRow
from tally_shared.events import Event, PostCreated, PostDeleted, PostUpdated, record_event
from tally_shared.web import AccountDeletedError, Caller, DomainError, ForbiddenError, NotFoundError

PRODUCER = "posts"
# How long a `top` walk may last: its pages need the count changes made since it began,
# and the worker keeps them this long, plus a margin for a transaction that began before
# the walk and committed after it.
CURSOR_LIFETIME = timedelta(hours=1)
COUNT_CHANGES_KEPT = CURSOR_LIFETIME + timedelta(minutes=10)
_CURSOR = TypeAdapter(Cursor)


class PostNotFoundError(NotFoundError):
    detail = "Post not found"


class NotPostOwnerError(ForbiddenError):
    detail = "Not authorized to perform requested action"


class InvalidCursorError(DomainError):
    detail = "Invalid cursor: pass on the one a response's Link header gave, with the same order and no skip"


class ExpiredCursorError(DomainError):
    status_code = 410
    detail = "This cursor has expired (a walk by order=top lasts at most an hour); start again without a cursor"


@dataclass(frozen=True)
class FeedPage:
    posts: list[dict[str, Any]]
    # Where the next page starts; None when this page is the last.
    next_cursor: str | None


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
    session: AsyncSession,
    caller: Caller,
    *,
    limit: int,
    skip: int,
    search: str | None,
    order: FeedOrder,
    cursor: str | None = None,
) -> FeedPage:
    """A page of the feed, by `skip` or after a cursor, and the cursor of the page after it.

    `new` walks (created_at, id), which no post ever changes. `top` walks each post's count
    as of the snapshot its first page was read in, so votes during the walk move no post
    across the cursor: none is repeated, none that existed for the whole walk is skipped.
    """
    if cursor is None:
        rows = await repository.feed(
            session, viewer_id=caller.user_id, limit=limit, skip=skip, search=search, order=order
        )
        if order == "new":
            return _page(rows, limit, _new_cursor)
        started_at = datetime.now(UTC)
        return _page(rows, limit, lambda last: _top_cursor(last, last.votes, last.snapshot, started_at))
    position = _decode(cursor, order, skip)
    if isinstance(position, NewCursor):
        rows = await repository.newer_page(
            session,
            viewer_id=caller.user_id,
            limit=limit,
            search=search,
            after_created_at=position.created_at,
            after_id=position.id,
        )
        return _page(rows, limit, _new_cursor)
    rows = await repository.top_page(
        session,
        viewer_id=caller.user_id,
        limit=limit,
        search=search,
        snapshot=position.snapshot,
        after_votes=position.votes,
        after_created_at=position.created_at,
        after_id=position.id,
    )
    return _page(rows, limit, lambda last: _top_cursor(last, last.rank, position.snapshot, position.started_at))


def _page(rows: Sequence[AnyRow], limit: int, cursor_after: Callable[[AnyRow], str]) -> FeedPage:
    next_cursor = cursor_after(rows[-1]) if len(rows) == limit else None
    return FeedPage([_with_votes(row) for row in rows], next_cursor)


def _new_cursor(last: AnyRow) -> str:
    return _encode(NewCursor(order="new", created_at=last.created_at, id=last.id))


def _top_cursor(last: AnyRow, rank: int, snapshot: str, started_at: datetime) -> str:
    return _encode(
        TopCursor(
            order="top", votes=rank, created_at=last.created_at, id=last.id, snapshot=snapshot, started_at=started_at
        )
    )


def _encode(position: NewCursor | TopCursor) -> str:
    return base64.urlsafe_b64encode(position.model_dump_json().encode()).rstrip(b"=").decode()


def _decode(cursor: str, order: FeedOrder, skip: int) -> NewCursor | TopCursor:
    try:
        position = _CURSOR.validate_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, ValidationError):
        raise InvalidCursorError() from None
    if position.order != order or skip:
        raise InvalidCursorError()
    if isinstance(position, TopCursor) and datetime.now(UTC) - position.started_at > CURSOR_LIFETIME:
        raise ExpiredCursorError()
    return position


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
