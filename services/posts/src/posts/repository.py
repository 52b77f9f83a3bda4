"""Every SQL statement of the posts service."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    DateTime,
    Select,
    String,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from posts.models import Snapshot, count_changes, posts, users
from tally_shared.db import AnyRow

FeedOrder = Literal["new", "top"]

_ORDERINGS = {
    "new": (posts.c.created_at.desc(), posts.c.id.desc()),
    "top": (posts.c.votes.desc(), posts.c.created_at.desc(), posts.c.id.desc()),
}


# The owner comes from the replica in the same query: no N+1, no call to auth.
_POST_WITH_OWNER = select(
    posts.c.id,
    posts.c.title,
    posts.c.content,
    posts.c.published,
    posts.c.created_at,
    posts.c.owner_id,
    posts.c.votes,
    posts.c.revision,
    users.c.email.label("owner_email"),
    users.c.created_at.label("owner_created_at"),
).join_from(posts, users, posts.c.owner_id == users.c.id)
# Drafts exist only for their owner.
_VISIBLE_TO_VIEWER = or_(posts.c.published, posts.c.owner_id == bindparam("viewer_id"))
_POST_BY_ID = _POST_WITH_OWNER.where(posts.c.id == bindparam("post_id"))
# A GIN trigram index (ix_posts_title_trgm) serves this for three characters or more.
_TITLE_MATCHES = posts.c.title.ilike(bindparam("pattern"), escape="\\")
# Where a page by cursor starts: after the post of the previous page's last row.
_AFTER_CREATED_AT = bindparam("after_created_at", type_=DateTime(timezone=True))
_AFTER_ID = bindparam("after_id", type_=BigInteger)
# The snapshot a `top` walk started in, as text: the cursor carries it.
_SNAPSHOT_NOW = cast(func.pg_current_snapshot(), String).label("snapshot")


def _feed_query(searching: bool) -> Select[*tuple[Any, ...]]:
    query = _POST_WITH_OWNER.where(_VISIBLE_TO_VIEWER)
    if searching:
        query = query.where(_TITLE_MATCHES)
    return query


@cache
def _feed_statement(order: FeedOrder, searching: bool) -> Select[*tuple[Any, ...]]:
    """Built once per shape, with every value a parameter: the feed is the hottest query,
    and SQLAlchemy then finds its compiled form in its cache instead of building it anew.

    `top` also answers the statement's own snapshot (the same on every row): its counts
    are exactly the counts as of that snapshot, where a walk by cursor starts.
    """
    query = _feed_query(searching)
    if order == "top":
        query = query.add_columns(_SNAPSHOT_NOW)
    return query.order_by(*_ORDERINGS[order]).limit(bindparam("limit")).offset(bindparam("skip"))


@cache
def _newer_page_statement(searching: bool) -> Select[*tuple[Any, ...]]:
    """The `new` page after a cursor: a keyset on the immutable (created_at, id), read off ix_posts_new."""
    after = tuple_(_AFTER_CREATED_AT, _AFTER_ID)
    return (
        _feed_query(searching)
        .where(tuple_(posts.c.created_at, posts.c.id) < after)
        .order_by(*_ORDERINGS["new"])
        .limit(bindparam("limit"))
    )


@cache
def _top_page_statement(searching: bool) -> Select[*tuple[Any, ...]]:
    """The `top` page after a cursor, ordered by each post's count as of the walk's snapshot.

    A post whose count no transaction after the snapshot changed ranks by its count now,
    read off ix_posts_top; the few that changed rank by their count now less those
    changes (`count_changes`), and the two are merged. The cost depends on the page size
    and on the changes since the walk began, not on how deep the page is.
    """
    snapshot = cast(cast(bindparam("snapshot"), String), Snapshot)
    since_snapshot = (
        select(count_changes.c.post_id, func.sum(count_changes.c.delta).label("since"))
        .where(
            # Every transaction before the snapshot's xmin is visible to it: only later ones can be hidden.
            count_changes.c.xid >= func.pg_snapshot_xmin(snapshot),
            ~func.pg_visible_in_snapshot(count_changes.c.xid, snapshot),
        )
        .group_by(count_changes.c.post_id)
        .cte("since_snapshot")
    )
    after = tuple_(bindparam("after_votes", type_=BigInteger), _AFTER_CREATED_AT, _AFTER_ID)
    searching_clause = (_TITLE_MATCHES,) if searching else ()
    unchanged = (
        select(posts.c.id, posts.c.votes.label("rank"), posts.c.created_at)
        .where(
            _VISIBLE_TO_VIEWER,
            *searching_clause,
            tuple_(posts.c.votes, posts.c.created_at, posts.c.id) < after,
            posts.c.id.not_in(select(since_snapshot.c.post_id)),
        )
        .order_by(*_ORDERINGS["top"])
        .limit(bindparam("limit"))
        .subquery("unchanged")
    )
    rank_then = (posts.c.votes - since_snapshot.c.since).label("rank")
    changed = (
        select(posts.c.id, rank_then, posts.c.created_at)
        .join_from(since_snapshot, posts, posts.c.id == since_snapshot.c.post_id)
        .where(
            _VISIBLE_TO_VIEWER,
            *searching_clause,
            tuple_(posts.c.votes - since_snapshot.c.since, posts.c.created_at, posts.c.id) < after,
        )
        .order_by(rank_then.desc(), posts.c.created_at.desc(), posts.c.id.desc())
        .limit(bindparam("limit"))
        .subquery("changed")
    )
    page = union_all(select(unchanged), select(changed)).subquery("page")
    return (
        _POST_WITH_OWNER.add_columns(page.c.rank)
        .join(page, page.c.id == posts.c.id)
        .order_by(page.c.rank.desc(), page.c.created_at.desc(), page.c.id.desc())
        .limit(bindparam("limit"))
    )


def _literal_substring(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---- users replica ----


async def upsert_registered_user(session: AsyncSession, *, user_id: int, email: str, created_at: datetime) -> None:
    """From `user.registered`: creates the user, or completes the row a first post made; a tombstone stays."""
    statement = insert(users).values(id=user_id, email=email, created_at=created_at)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[users.c.id],
            set_={"email": statement.excluded.email, "created_at": statement.excluded.created_at},
            where=users.c.deleted_at.is_(None),
        )
    )


async def ensure_user(session: AsyncSession, *, user_id: int, email: str) -> AnyRow:
    """The caller's replica row, created from the gateway's identity if their `user.registered`
    has not arrived yet; locked against a concurrent `user.deleted` until the transaction ends."""
    await session.execute(insert(users).values(id=user_id, email=email, created_at=func.now()).on_conflict_do_nothing())
    result = await session.execute(select(users).where(users.c.id == user_id).with_for_update(read=True))
    return result.one()


async def tombstone_user(session: AsyncSession, user_id: int) -> None:
    statement = insert(users).values(id=user_id, email=None, created_at=func.now(), deleted_at=func.now())
    await session.execute(
        statement.on_conflict_do_update(index_elements=[users.c.id], set_={"email": None, "deleted_at": func.now()})
    )


# ---- posts ----


async def feed(
    session: AsyncSession, *, viewer_id: int, limit: int, skip: int, search: str | None, order: FeedOrder
) -> Sequence[AnyRow]:
    """A page by `skip`; for `top`, each row also carries the snapshot the page was read in."""
    parameters: dict[str, int | str] = {"viewer_id": viewer_id, "limit": limit, "skip": skip}
    if search:
        parameters["pattern"] = _literal_substring(search)
    return (await session.execute(_feed_statement(order, bool(search)), parameters)).all()


async def newer_page(
    session: AsyncSession, *, viewer_id: int, limit: int, search: str | None, after_created_at: datetime, after_id: int
) -> Sequence[AnyRow]:
    """The `new` page after the post (after_created_at, after_id)."""
    parameters = {"viewer_id": viewer_id, "limit": limit, "after_created_at": after_created_at, "after_id": after_id}
    if search:
        parameters["pattern"] = _literal_substring(search)
    return (await session.execute(_newer_page_statement(bool(search)), parameters)).all()


async def top_page(
    session: AsyncSession,
    *,
    viewer_id: int,
    limit: int,
    search: str | None,
    snapshot: str,
    after_votes: int,
    after_created_at: datetime,
    after_id: int,
) -> Sequence[AnyRow]:
    """The `top` page after the post ranked (after_votes, after_created_at, after_id) as of
    `snapshot`; each row's `rank` is its count as of that snapshot."""
    parameters = {
        "viewer_id": viewer_id,
        "limit": limit,
        "snapshot": snapshot,
        "after_votes": after_votes,
        "after_created_at": after_created_at,
        "after_id": after_id,
    }
    if search:
        parameters["pattern"] = _literal_substring(search)
    return (await session.execute(_top_page_statement(bool(search)), parameters)).all()


async def post_by_id(session: AsyncSession, post_id: int, *, for_update: bool = False) -> AnyRow | None:
    query = _POST_BY_ID.with_for_update(of=posts) if for_update else _POST_BY_ID
    return (await session.execute(query, {"post_id": post_id})).first()


async def add_post(session: AsyncSession, *, owner_id: int, title: str, content: str, published: bool) -> int:
    post_id: int = await session.scalar(
        posts.insert()
        .values(owner_id=owner_id, title=title, content=content, published=published)
        .returning(posts.c.id)
    )
    return post_id


async def replace_post(session: AsyncSession, post_id: int, *, title: str, content: str, published: bool) -> None:
    await session.execute(
        update(posts)
        .where(posts.c.id == post_id)
        .values(title=title, content=content, published=published, revision=posts.c.revision + 1)
    )


async def delete_post(session: AsyncSession, post_id: int) -> None:
    await session.execute(delete(posts).where(posts.c.id == post_id))


async def delete_posts_of(session: AsyncSession, owner_id: int) -> Sequence[int]:
    return (await session.scalars(delete(posts).where(posts.c.owner_id == owner_id).returning(posts.c.id))).all()


async def post_replica(session: AsyncSession, post_id: int) -> AnyRow | None:
    result = await session.execute(
        select(posts.c.id, posts.c.owner_id, posts.c.published, posts.c.revision).where(posts.c.id == post_id)
    )
    return result.first()


# ---- vote counts ----


async def add_votes(session: AsyncSession, deltas: Sequence[tuple[int, int, int]]) -> int:
    """Adds each `(post_id, count_epoch, delta)` to its post, unless reconciliation has reset the
    post's count at a later epoch (that count already includes the vote). One statement for all
    the posts; returns how many posts changed.

    The rows are locked in id order first, so two workers applying overlapping batches wait for
    each other instead of deadlocking, and the epochs read are the ones the update meets.
    """
    ids = sorted({post_id for post_id, _, _ in deltas})
    locked = await session.execute(
        select(posts.c.id, posts.c.count_epoch).where(posts.c.id.in_(ids)).order_by(posts.c.id).with_for_update()
    )
    epochs = dict(locked.all())
    totals: dict[int, int] = {}
    for post_id, epoch, delta in deltas:
        if post_id in epochs and epoch >= epochs[post_id]:
            totals[post_id] = totals.get(post_id, 0) + delta
    changed = sorted(post_id for post_id, total in totals.items() if total)
    if changed:
        # Journaled in the same statement, so a `top` cursor sees the change exactly when the count does.
        await session.execute(
            text(
                "WITH counted AS ("
                " UPDATE posts.posts AS p SET votes = p.votes + v.delta"
                " FROM unnest(CAST(:ids AS bigint[]), CAST(:deltas AS integer[])) AS v(id, delta)"
                " WHERE p.id = v.id RETURNING p.id, v.delta)"
                " INSERT INTO posts.count_changes (post_id, delta) SELECT id, delta FROM counted"
            ),
            {"ids": changed, "deltas": [totals[post_id] for post_id in changed]},
        )
    return len(changed)


async def lock_count_page(session: AsyncSession, *, after_id: int, size: int) -> Sequence[AnyRow]:
    """The next page of posts by id with their counts, locked until the transaction ends, so that
    no vote event is applied to them between their recount and the reset of their counts."""
    result = await session.execute(
        select(posts.c.id, posts.c.votes)
        .where(posts.c.id > after_id)
        .order_by(posts.c.id)
        .limit(size)
        .with_for_update()
    )
    return result.all()


async def reset_counts(session: AsyncSession, truths: Sequence[tuple[int, int, int]]) -> Sequence[AnyRow]:
    """Sets each `(post_id, votes, count_epoch)` from a recount, unless the post already has a
    later epoch; one statement for the page. Returns the posts whose count changed, as
    `(id, old_votes, new_votes)`."""
    if not truths:
        return []
    ids, counts, epochs = (list(column) for column in zip(*truths, strict=True))
    result = await session.execute(
        text(
            "WITH reset AS ("
            " UPDATE posts.posts AS p SET votes = v.votes, count_epoch = v.epoch"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:counts AS integer[]), CAST(:epochs AS bigint[]))"
            " AS v(id, votes, epoch),"
            " (SELECT id, votes FROM posts.posts WHERE id = ANY(CAST(:ids AS bigint[]))) AS old"
            " WHERE p.id = v.id AND old.id = v.id AND p.count_epoch <= v.epoch"
            " RETURNING p.id, old.votes AS old_votes, p.votes AS new_votes),"
            # A reset moves a post in the `top` order like any vote: journaled for the cursors.
            " journaled AS (INSERT INTO posts.count_changes (post_id, delta)"
            " SELECT id, new_votes - old_votes FROM reset WHERE new_votes <> old_votes)"
            " SELECT id, old_votes, new_votes FROM reset"
        ),
        {"ids": ids, "counts": counts, "epochs": epochs},
    )
    return [row for row in result.all() if row.old_votes != row.new_votes]


async def prune_count_changes(session: AsyncSession, *, older_than: timedelta, batch: int = 1000) -> None:
    """Deletes up to `batch` journaled count changes older than `older_than`. Rows another
    worker is pruning at the same moment are skipped, not waited for."""
    await session.execute(
        text(
            "DELETE FROM posts.count_changes WHERE ctid = ANY(ARRAY("
            " SELECT ctid FROM posts.count_changes WHERE applied_at < now() - CAST(:older_than AS interval)"
            " ORDER BY applied_at LIMIT :batch FOR UPDATE SKIP LOCKED))"
        ),
        {"older_than": older_than, "batch": batch},
    )
