"""Every SQL statement of the posts service."""

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Literal

from sqlalchemy import Row, Select, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from posts.models import posts, users

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


@cache
def _feed_statement(order: FeedOrder, searching: bool) -> Select:
    """Built once per shape, with every value a parameter: the feed is the hottest query,
    and SQLAlchemy then finds its compiled form in its cache instead of building it anew."""
    query = _POST_WITH_OWNER.where(_VISIBLE_TO_VIEWER)
    if searching:
        query = query.where(posts.c.title.ilike(bindparam("pattern"), escape="\\"))
    return query.order_by(*_ORDERINGS[order]).limit(bindparam("limit")).offset(bindparam("skip"))


def _literal_substring(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---- users replica ----


def upsert_registered_user(session: Session, *, user_id: int, email: str, created_at: datetime) -> None:
    """From `user.registered`: creates the user, or completes the row a first post made; a tombstone stays."""
    statement = insert(users).values(id=user_id, email=email, created_at=created_at)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[users.c.id],
            set_={"email": statement.excluded.email, "created_at": statement.excluded.created_at},
            where=users.c.deleted_at.is_(None),
        )
    )


def ensure_user(session: Session, *, user_id: int, email: str) -> Row:
    """The caller's replica row, created from the gateway's identity if their `user.registered`
    has not arrived yet; locked against a concurrent `user.deleted` until the transaction ends."""
    session.execute(insert(users).values(id=user_id, email=email, created_at=func.now()).on_conflict_do_nothing())
    return session.execute(select(users).where(users.c.id == user_id).with_for_update(read=True)).one()


def tombstone_user(session: Session, user_id: int) -> None:
    statement = insert(users).values(id=user_id, email=None, created_at=func.now(), deleted_at=func.now())
    session.execute(
        statement.on_conflict_do_update(index_elements=[users.c.id], set_={"email": None, "deleted_at": func.now()})
    )


# ---- posts ----


def feed(
    session: Session, *, viewer_id: int, limit: int, skip: int, search: str | None, order: FeedOrder
) -> Sequence[Row]:
    parameters = {"viewer_id": viewer_id, "limit": limit, "skip": skip}
    if search:
        parameters["pattern"] = _literal_substring(search)
    return session.execute(_feed_statement(order, bool(search)), parameters).all()


def post_by_id(session: Session, post_id: int, *, for_update: bool = False) -> Row | None:
    query = _POST_BY_ID.with_for_update(of=posts) if for_update else _POST_BY_ID
    return session.execute(query, {"post_id": post_id}).first()


def add_post(session: Session, *, owner_id: int, title: str, content: str, published: bool) -> int:
    return session.execute(
        posts.insert()
        .values(owner_id=owner_id, title=title, content=content, published=published)
        .returning(posts.c.id)
    ).scalar_one()


def replace_post(session: Session, post_id: int, *, title: str, content: str, published: bool) -> None:
    session.execute(
        update(posts)
        .where(posts.c.id == post_id)
        .values(title=title, content=content, published=published, revision=posts.c.revision + 1)
    )


def delete_post(session: Session, post_id: int) -> None:
    session.execute(delete(posts).where(posts.c.id == post_id))


def delete_posts_of(session: Session, owner_id: int) -> Sequence[int]:
    return session.execute(delete(posts).where(posts.c.owner_id == owner_id).returning(posts.c.id)).scalars().all()


def post_replica(session: Session, post_id: int) -> Row | None:
    return session.execute(
        select(posts.c.id, posts.c.owner_id, posts.c.published, posts.c.revision).where(posts.c.id == post_id)
    ).first()


# ---- vote counts ----


def apply_counts(session: Session, counts: dict[int, tuple[int, int]]) -> None:
    """Sets each post's count to `(votes, votes_version)` unless it already has that version or a later one.

    Rows are locked in id order first, so two workers applying overlapping
    batches wait for each other instead of deadlocking.
    """
    if not counts:
        return
    ids = sorted(counts)
    session.execute(select(posts.c.id).where(posts.c.id.in_(ids)).order_by(posts.c.id).with_for_update())
    session.execute(
        text(
            "UPDATE posts.posts AS p SET votes = v.votes, votes_version = v.version"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:counts AS integer[]), CAST(:versions AS bigint[]))"
            " AS v(id, votes, version)"
            " WHERE p.id = v.id AND p.votes_version < v.version"
        ),
        {"ids": ids, "counts": [counts[i][0] for i in ids], "versions": [counts[i][1] for i in ids]},
    )


def count_page(session: Session, *, after_id: int, size: int) -> Sequence[Row]:
    return session.execute(
        select(posts.c.id, posts.c.votes, posts.c.votes_version)
        .where(posts.c.id > after_id)
        .order_by(posts.c.id)
        .limit(size)
    ).all()


def repair_counts(session: Session, truths: Sequence[tuple[int, int, int]]) -> Sequence[Row]:
    """Sets counts to `(post_id, votes, votes_version)` from the votes service where they differ,
    unless a later version was applied meanwhile; one statement for the whole page. Returns the
    posts changed as `(id, old_votes, new_votes)`."""
    if not truths:
        return []
    ids, counts, versions = (list(column) for column in zip(*truths, strict=True))
    return session.execute(
        text(
            "UPDATE posts.posts AS p"
            " SET votes = v.votes, votes_version = GREATEST(p.votes_version, v.version)"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:counts AS integer[]), CAST(:versions AS bigint[]))"
            " AS v(id, votes, version),"
            " (SELECT id, votes FROM posts.posts WHERE id = ANY(CAST(:ids AS bigint[]))) AS old"
            " WHERE p.id = v.id AND old.id = v.id AND p.votes <> v.votes AND p.votes_version <= v.version"
            " RETURNING p.id, old.votes AS old_votes, p.votes AS new_votes"
        ),
        {"ids": ids, "counts": counts, "versions": versions},
    ).all()
