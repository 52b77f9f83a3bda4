"""The auth schema: its own tables only."""

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, MetaData, String, Table, Text, func

from tally_shared.outbox import outbox_table

metadata = MetaData(schema="auth")

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# Emails are matched case-insensitively, so they are unique case-insensitively.
EMAIL_INDEX = "uq_users_email_lower"
Index(EMAIL_INDEX, func.lower(users.c.email), unique=True)

outbox = outbox_table(metadata)
