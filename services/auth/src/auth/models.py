"""The auth schema: its own tables only."""

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, LargeBinary, MetaData, String, Table, Text, func

from tally_shared.events import outbox_table
from tally_shared.web import idempotency_keys_table

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

# One row per failed login and subject (the account, the client address), kept for the
# throttling window; the subject is a SHA-256, so an email that is not registered is not stored.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("subject", LargeBinary, nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
Index("ix_login_failures_subject", login_failures.c.subject, login_failures.c.failed_at)
Index("ix_login_failures_expires_at", login_failures.c.expires_at)

outbox = outbox_table(metadata)
idempotency_keys = idempotency_keys_table(metadata)
