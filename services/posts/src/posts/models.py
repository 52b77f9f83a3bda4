"""The posts schema: its own tables only."""

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.types import UserDefinedType

from tally_shared.events import inbox_table, outbox_table
from tally_shared.web import idempotency_keys_table

metadata = MetaData(schema="posts")


class TransactionId(UserDefinedType[int]):
    """PostgreSQL's `xid8`: the id of the transaction that wrote a row, comparable with a snapshot."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


class Snapshot(UserDefinedType[str]):
    """PostgreSQL's `pg_snapshot`: which transactions a snapshot sees, written `xmin:xmax:xip,...`."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "pg_snapshot"


# A replica of the auth service's users, kept by its events, so a post's owner
# is read in the same query as the post, with no call to another service.
# A deleted user stays as a tombstone (no email, `deleted_at` set), so a late
# or reordered event can never bring them back.
users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("email", String(320)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

posts = Table(
    "posts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("owner_id", BigInteger, ForeignKey(users.c.id), nullable=False),
    Column("title", String(300), nullable=False),
    Column("content", Text, nullable=False),
    Column("published", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Orders this post's events for the services that replicate it.
    Column("revision", Integer, nullable=False, server_default="1"),
    # Denormalised from the votes service's events: the sum of their +1 and -1 since
    # the count was last reset by reconciliation at `count_epoch`. Reads never count votes.
    Column("votes", Integer, nullable=False, server_default="0"),
    Column("count_epoch", BigInteger, nullable=False, server_default="0"),
)
# The two feeds, each read straight off an index in its order.
Index("ix_posts_new", posts.c.created_at.desc(), posts.c.id.desc())
Index("ix_posts_top", posts.c.votes.desc(), posts.c.created_at.desc(), posts.c.id.desc())
Index("ix_posts_owner_id", posts.c.owner_id)
# `search` (a case-insensitive substring of the title): pg_trgm, in the schema `extensions`.
Index("ix_posts_title_trgm", posts.c.title, postgresql_using="gin", postgresql_ops={"title": "extensions.gin_trgm_ops"})

# Every change of a post's count, with the transaction that made it: a `top` cursor
# carries the snapshot its walk started in, and a page orders each post by its count
# as of that snapshot (its count now, less the changes that snapshot could not see),
# so counts that change during a walk move no post across the cursor. Rows older than
# a cursor's lifetime are pruned by the worker.
count_changes = Table(
    "count_changes",
    metadata,
    Column("post_id", BigInteger, nullable=False),
    Column("delta", Integer, nullable=False),
    Column("xid", TransactionId, nullable=False, server_default=func.pg_current_xact_id()),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_count_changes_xid", count_changes.c.xid, postgresql_include=["post_id", "delta"])
Index("ix_count_changes_applied_at", count_changes.c.applied_at)

inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
idempotency_keys = idempotency_keys_table(metadata)
