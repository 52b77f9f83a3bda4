"""users replica and inbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import MetaData

from tally_shared.db import create_tables
from tally_shared.events import inbox_table

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema="posts",
    )
    create_tables(inbox_table(MetaData(schema="posts")))


def downgrade() -> None:
    op.drop_table("inbox", schema="posts")
    op.drop_table("users", schema="posts")
