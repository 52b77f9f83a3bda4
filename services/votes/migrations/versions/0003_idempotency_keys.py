"""stored answers of writes sent with an Idempotency-Key

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from tally_shared.migrations import create_idempotency_keys_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_keys_table("votes")


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="votes")
