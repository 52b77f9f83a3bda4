"""users and outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import MetaData

from tally_shared.db import create_tables
from tally_shared.events import outbox_table

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="auth",
    )
    op.execute("CREATE UNIQUE INDEX uq_users_email_lower ON auth.users (lower(email))")
    create_tables(outbox_table(MetaData(schema="auth")))


def downgrade() -> None:
    op.drop_table("outbox", schema="auth")
    op.drop_table("users", schema="auth")
