"""failed logins, counted per account and client address for throttling

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subject", sa.LargeBinary, nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema="auth",
    )
    op.create_index("ix_login_failures_subject", "login_failures", ["subject", "failed_at"], schema="auth")
    op.create_index("ix_login_failures_expires_at", "login_failures", ["expires_at"], schema="auth")


def downgrade() -> None:
    op.drop_table("login_failures", schema="auth")
