"""posts, user tombstones and the outbox

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import MetaData

from tally_shared.db import create_tables
from tally_shared.events import outbox_table

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.alter_column("users", "email", nullable=True, schema="posts")
    op.add_column("users", sa.Column("deleted_at", sa.DateTime(timezone=True)), schema="posts")
    op.create_table(
        "posts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("owner_id", sa.BigInteger, sa.ForeignKey("posts.users.id"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("published", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
        sa.Column("votes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("votes_version", sa.BigInteger, nullable=False, server_default="0"),
        schema="posts",
    )
    op.execute("CREATE INDEX ix_posts_new ON posts.posts (created_at DESC, id DESC)")
    op.execute("CREATE INDEX ix_posts_top ON posts.posts (votes DESC, created_at DESC, id DESC)")
    op.create_index("ix_posts_owner_id", "posts", ["owner_id"], schema="posts")
    create_tables(outbox_table(MetaData(schema="posts")))


def downgrade() -> None:
    op.drop_table("outbox", schema="posts")
    op.drop_table("posts", schema="posts")
    op.drop_column("users", "deleted_at", schema="posts")
    op.alter_column("users", "email", nullable=False, schema="posts")
