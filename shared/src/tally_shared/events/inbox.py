"""The inbox: the ids of the events a service has applied, written in the same transaction as
their effects, so that a redelivered event is recognised and skipped (see `consumer.py`)."""

from sqlalchemy import Column, DateTime, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import UUID


def inbox_table(metadata: MetaData) -> Table:
    """The ids of the events a service has applied, written with their effects."""
    return Table(
        "inbox",
        metadata,
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
