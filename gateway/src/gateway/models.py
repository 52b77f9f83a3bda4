"""The gateway schema: its own tables only."""

from sqlalchemy import BigInteger, Column, DateTime, Identity, MetaData, Table, func

from tally_shared.events import inbox_table

metadata = MetaData(schema="gateway")

# The users who deleted their account, from `user.deleted`: their tokens, though
# still unexpired, are refused. `seq` numbers the rows in insertion order, so each
# gateway reads only what is new since its last read (see revocations.py).
revoked_users = Table(
    "revoked_users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("seq", BigInteger, Identity(always=True), nullable=False, unique=True),
)

inbox = inbox_table(metadata)
