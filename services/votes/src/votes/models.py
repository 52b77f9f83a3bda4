"""The votes schema: its own tables only."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    func,
)

from tally_shared.events import inbox_table, outbox_table
from tally_shared.web import idempotency_keys_table

metadata = MetaData(schema="votes")

# What this service knows of the posts service's posts, from its events (or,
# for a post too new for its event to have arrived, from the posts service
# itself). A vote only reads this row: no vote writes or locks it, so the voters
# of one post never wait for each other. A deleted post stays as a tombstone, so
# a late or reordered event can never bring it back.
posts = Table(
    "posts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_id", BigInteger, nullable=False),
    Column("published", Boolean, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False, server_default="false"),
    # One more each time reconciliation recounts the post; carried by every vote event.
    Column("count_epoch", BigInteger, nullable=False, server_default="0"),
)

# No foreign key to `posts`: its check would lock the post's row for every vote
# (FOR KEY SHARE, a multixact shared by every voter of a viral post). The post
# is checked under the post's advisory lock instead (repository.lock_vote).
votes = Table(
    "votes",
    metadata,
    Column("user_id", BigInteger, nullable=False),
    Column("post_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # One vote per user per post, enforced here.
    PrimaryKeyConstraint("user_id", "post_id"),
)
Index("ix_votes_post_id", votes.c.post_id)

# Users whose `user.deleted` has been applied: their late votes are refused.
deleted_users = Table(
    "deleted_users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("deleted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
idempotency_keys = idempotency_keys_table(metadata)
