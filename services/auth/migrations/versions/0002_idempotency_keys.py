"""stored answers of writes sent with an Idempotency-Key

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from tally_shared.migrations import create_idempotency_keys_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_keys_table("auth")


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="auth")
