"""revoked users and inbox

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
        "revoked_users",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.UniqueConstraint("seq", name="revoked_users_seq_key"),
        schema="gateway",
    )
    create_tables(inbox_table(MetaData(schema="gateway")))


def downgrade() -> None:
    op.drop_table("inbox", schema="gateway")
    op.drop_table("revoked_users", schema="gateway")
