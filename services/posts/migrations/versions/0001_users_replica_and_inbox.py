"""users replica and inbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from tally_shared.migrations import create_inbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema="posts",
    )
    create_inbox_table("posts")


def downgrade() -> None:
    op.drop_table("inbox", schema="posts")
    op.drop_table("users", schema="posts")
