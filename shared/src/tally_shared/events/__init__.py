"""The event backbone: the typed events and their envelope, the outbox they are written to with
the change, the relay that publishes them, the broker topology, the inbox and the consumer that
applies each exactly once, the process entry points, and the AsyncAPI document of it all."""

from tally_shared.events.asyncapi import EVENT_CATALOG, asyncapi_document, consumed_by, produced_by
from tally_shared.events.broker import Topology, connect, declare_events_exchange, declare_service_queue
from tally_shared.events.consumer import BatchHandler, ConsumerTuning, EventConsumer, Handler, run_worker
from tally_shared.events.inbox import inbox_table
from tally_shared.events.models import (
    EVENT_TYPES,
    Envelope,
    Event,
    PostCreated,
    PostDeleted,
    PostUpdated,
    UnknownEventError,
    UserDeleted,
    UserRegistered,
    VoteCast,
    VoteChanged,
    VoteRetracted,
)
from tally_shared.events.outbox import outbox_table, record_event
from tally_shared.events.relay import OutboxRelay, RelayTuning, run_relay

__all__ = [
    "EVENT_CATALOG",
    "EVENT_TYPES",
    "BatchHandler",
    "ConsumerTuning",
    "Envelope",
    "Event",
    "EventConsumer",
    "Handler",
    "OutboxRelay",
    "PostCreated",
    "PostDeleted",
    "PostUpdated",
    "RelayTuning",
    "Topology",
    "UnknownEventError",
    "UserDeleted",
    "UserRegistered",
    "VoteCast",
    "VoteChanged",
    "VoteRetracted",
    "asyncapi_document",
    "connect",
    "consumed_by",
    "declare_events_exchange",
    "declare_service_queue",
    "inbox_table",
    "outbox_table",
    "produced_by",
    "record_event",
    "run_relay",
    "run_worker",
]
