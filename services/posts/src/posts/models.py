"""The posts schema: its own tables only."""

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table

from tally_shared.consumer import inbox_table

metadata = MetaData(schema="posts")

# A replica of the auth service's users, kept by its events, so a post's owner
# is read in the same query as the post, with no call to another service.
users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("email", String(320), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

inbox = inbox_table(metadata)
