"""The versioned event envelope and every event type of the system.

The catalog with producers, consumers and examples is docs/events.md; keep the
two in step.
"""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    """A domain fact. Subclasses name their routing key (`type`) and schema `version`."""

    model_config = ConfigDict(frozen=True)

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


class VoteCounted(Event):
    """Base of the vote events: each carries the post's whole count after the change.

    `votes_version` increases by one with every change to the post's count, so a
    consumer keeps the count of the highest version it has seen and ignores
    older ones: redelivered, reordered and concurrently consumed events all
    leave the same count behind.
    """

    post_id: int
    user_id: int
    votes: int
    votes_version: int


class VoteCast(VoteCounted):
    type: ClassVar[str] = "vote.cast"


class VoteRetracted(VoteCounted):
    type: ClassVar[str] = "vote.retracted"


EVENT_TYPES: dict[str, type[Event]] = {
    event_class.type: event_class
    for event_class in (UserRegistered, UserDeleted, PostCreated, PostUpdated, PostDeleted, VoteCast, VoteRetracted)
}


class UnknownEventError(ValueError):
    """The envelope names a type or version this code cannot read."""


class Envelope(BaseModel):
    """What travels on the wire: the event's data plus who, when, and why it happened."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    request_id: str | None = None
    data: dict[str, Any]

    @classmethod
    def wrap(cls, event: Event, *, producer: str, request_id: str | None) -> "Envelope":
        return cls(
            type=event.type,
            version=event.version,
            producer=producer,
            request_id=request_id,
            data=event.model_dump(mode="json"),
        )

    def event(self) -> Event:
        """The typed event inside; raises UnknownEventError or pydantic's ValidationError."""
        event_class = EVENT_TYPES.get(self.type)
        if event_class is None or event_class.version != self.version:
            raise UnknownEventError(f"no event class for {self.type} v{self.version}")
        return event_class.model_validate(self.data)
