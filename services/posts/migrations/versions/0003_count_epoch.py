"""vote counts are sums of per-vote events since the last reconciliation epoch

Revision ID: 0003
Revises: 0002

The count-carrying `votes_version` gives way to `count_epoch` (see
docs/vote-counts.md); existing counts stay, at epoch 0.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.drop_column("posts", "votes_version", schema="posts")
    op.add_column("posts", sa.Column("count_epoch", sa.BigInteger, nullable=False, server_default="0"), schema="posts")


def downgrade() -> None:
    op.drop_column("posts", "count_epoch", schema="posts")
    op.add_column("posts", sa.Column("votes_version", sa.BigInteger, nullable=False, server_default="0"), schema="posts")
