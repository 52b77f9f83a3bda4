"""The versioned event envelope and every event type of the system.

Who produces and consumes each is EVENT_CATALOG in asyncapi.py (tested against the
services); docs/events.md explains them with examples.
"""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    """A domain fact. Subclasses name their routing key (`type`) and schema `version`."""

    # Its JSON schema (in /asyncapi.json) describes what is sent, where every field is present.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    type: ClassVar[str]
    version: ClassVar[int] = 1


class UserRegistered(Event):
    type: ClassVar[str] = "user.registered"

    user_id: int
    email: str
    created_at: datetime


class UserDeleted(Event):
    type: ClassVar[str] = "user.deleted"

    user_id: int


class PostCreated(Event):
    """A post exists. `revision` orders this event and the post's later updates."""

    type: ClassVar[str] = "post.created"

    post_id: int
    owner_id: int
    published: bool
    revision: int
    created_at: datetime


class PostUpdated(Event):
    type: ClassVar[str] = "post.updated"

    post_id: int
    owner_id: int
    published: bool
    revision: int


class PostDeleted(Event):
    type: ClassVar[str] = "post.deleted"

    post_id: int
    owner_id: int


class VoteChanged(Event):
    """Base of the vote events: one vote added (`delta` +1) or removed (-1) on a post.

    A consumer adds up the deltas. It applies each event once (its inbox skips a
    redelivered event id), and sums do not depend on order, so redelivered,
    reordered and concurrently consumed events all leave the same count, and no
    voter ever waits for another voter of the same post to produce one.

    `count_epoch` is the post's reconciliation epoch when the vote committed. A
    count reset by reconciliation at epoch E already includes every vote of an
    earlier epoch, so a consumer skips those (docs/vote-counts.md).
    """

    version: ClassVar[int] = 2
    delta: ClassVar[int]

    post_id: int
    user_id: int
    count_epoch: int


class VoteCast(VoteChanged):
    type: ClassVar[str] = "vote.cast"
    delta: ClassVar[int] = 1


class VoteRetracted(VoteChanged):
    type: ClassVar[str] = "vote.retracted"
    delta: ClassVar[int] = -1


EVENT_TYPES: dict[str, type[Event]] = {
    event_class.type: event_class
    for event_class in (UserRegistered, UserDeleted, PostCreated, PostUpdated, PostDeleted, VoteCast, VoteRetracted)
}


class UnknownEventError(ValueError):
    """The envelope names a type or version this code cannot read."""


class Envelope(BaseModel):
    """What travels on the wire: the event's data plus who, when, and why it happened."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    request_id: str | None = None
    # W3C `traceparent` (and `tracestate`) of the work that caused the event, so that the relay
    # publishes it, and consumers apply it, in that trace; empty when it was not traced.
    trace_context: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls, event: Event, *, producer: str, request_id: str | None, trace_context: dict[str, str] | None = None
    ) -> "Envelope":
        return cls(
            type=event.type,
            version=event.version,
            producer=producer,
            request_id=request_id,
            trace_context=trace_context or {},
            data=event.model_dump(mode="json"),
        )

    def event(self) -> Event:
        """The typed event inside; raises UnknownEventError or pydantic's ValidationError."""
        event_class = EVENT_TYPES.get(self.type)
        if event_class is None or event_class.version != self.version:
            raise UnknownEventError(f"no event class for {self.type} v{self.version}")
        return event_class.model_validate(self.data)
