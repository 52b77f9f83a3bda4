"""The transactional outbox: events are rows written in the same transaction as the change."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Session

from tally_shared.events import Envelope, Event
from tally_shared.observability import request_id_var


def outbox_table(metadata: MetaData) -> Table:
    """The outbox of the service whose schema `metadata` targets."""
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("last_error", Text),
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
    )


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which a schema's relay is woken."""
    return f"{schema}_outbox"


def record_event(session: Session, outbox: Table, event: Event, *, producer: str) -> Envelope:
    """Add `event` to the outbox inside the caller's transaction.

    The NOTIFY is transactional too: the relay wakes only once the change commits,
    and never for a transaction that rolls back.
    """
    envelope = Envelope.wrap(event, producer=producer, request_id=request_id_var.get())
    # One round trip for both: the row, and the NOTIFY that PostgreSQL delivers at commit.
    recorded = (
        insert(outbox)
        .values(event_id=envelope.id, event_type=envelope.type, envelope=envelope.model_dump(mode="json"))
        .returning(outbox.c.id)
        .cte("recorded")
    )
    session.execute(select(func.pg_notify(notify_channel(outbox.schema), "")).select_from(recorded))
    return envelope
