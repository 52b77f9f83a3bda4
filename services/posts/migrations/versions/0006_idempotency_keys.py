"""stored answers of writes sent with an Idempotency-Key

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from tally_shared.migrations import create_idempotency_keys_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_keys_table("posts")


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="posts")
