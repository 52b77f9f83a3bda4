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
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.events.models import Envelope, Event
from tally_shared.telemetry.logs import request_id_var
from tally_shared.telemetry.tracing import current_trace_context


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


async def record_event(session: AsyncSession, outbox: Table, event: Event, *, producer: str) -> Envelope:
    """Add `event` to the outbox inside the caller's transaction; the relay finds it once committed."""
    envelope = Envelope.wrap(
        event, producer=producer, request_id=request_id_var.get(), trace_context=current_trace_context()
    )
    await session.execute(
        insert(outbox).values(event_id=envelope.id, event_type=envelope.type, envelope=envelope.model_dump(mode="json"))
    )
    return envelope
