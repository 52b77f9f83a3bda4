"""stored answers of writes sent with an Idempotency-Key

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from sqlalchemy import MetaData

from tally_shared.db import create_tables
from tally_shared.web import idempotency_keys_table

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    create_tables(idempotency_keys_table(MetaData(schema="auth")))


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="auth")
