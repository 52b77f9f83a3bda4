"""post replica with counts, votes, deleted users, inbox and outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import MetaData

from tally_shared.db import create_tables
from tally_shared.events import inbox_table, outbox_table

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("owner_id", sa.BigInteger, nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("votes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("votes_version", sa.BigInteger, nullable=False, server_default="0"),
        schema="votes",
    )
    op.create_table(
        "votes",
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("post_id", sa.BigInteger, sa.ForeignKey("votes.posts.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "post_id"),
        schema="votes",
    )
    op.create_index("ix_votes_post_id", "votes", ["post_id"], schema="votes")
    op.create_table(
        "deleted_users",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="votes",
    )
    shared_tables = MetaData(schema="votes")
    create_tables(inbox_table(shared_tables), outbox_table(shared_tables))


def downgrade() -> None:
    for table in ("outbox", "inbox", "deleted_users", "votes", "posts"):
        op.drop_table(table, schema="votes")
