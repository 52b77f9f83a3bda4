"""revoked users and inbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_users",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.UniqueConstraint("seq", name="revoked_users_seq_key"),
        schema="gateway",
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="gateway",
    )


def downgrade() -> None:
    op.drop_table("inbox", schema="gateway")
    op.drop_table("revoked_users", schema="gateway")
