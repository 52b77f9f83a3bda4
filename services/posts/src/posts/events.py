"""How the posts service applies the events it consumes."""

import logging

from sqlalchemy.orm import Session

from posts import repository, service
from tally_shared.consumer import BatchHandler, Handler
from tally_shared.events import Envelope, Event, UserDeleted, UserRegistered, VoteCast, VoteCounted, VoteRetracted

logger = logging.getLogger(__name__)


def apply_user_registered(session: Session, event: UserRegistered, envelope: Envelope) -> None:
    repository.upsert_registered_user(session, user_id=event.user_id, email=event.email, created_at=event.created_at)
    logger.info("user %d replicated", event.user_id)


def apply_user_deleted(session: Session, event: UserDeleted, envelope: Envelope) -> None:
    deleted = service.delete_everything_of(session, event.user_id)
    logger.info("user %d deleted with their %d post(s)", event.user_id, deleted)


def apply_vote_counts(session: Session, events: list[tuple[VoteCounted, Envelope]]) -> None:
    """Each post keeps the count of the highest version in the batch, and only if it is newer than its own."""
    latest: dict[int, tuple[int, int]] = {}
    for event, _ in events:
        if event.post_id not in latest or latest[event.post_id][1] < event.votes_version:
            latest[event.post_id] = (event.votes, event.votes_version)
    repository.apply_counts(session, latest)
    logger.debug("applied %d vote event(s) to %d post(s)", len(events), len(latest))


HANDLERS: dict[type[Event], Handler] = {
    UserRegistered: apply_user_registered,
    UserDeleted: apply_user_deleted,
}
BATCH_HANDLERS: dict[type[Event], BatchHandler] = {VoteCast: apply_vote_counts, VoteRetracted: apply_vote_counts}
