"""How the votes service applies the events it consumes."""

import logging

from sqlalchemy.orm import Session

from tally_shared.consumer import Handler
from tally_shared.events import Envelope, Event, PostCreated, PostDeleted, PostUpdated, UserDeleted
from votes import repository, service

logger = logging.getLogger(__name__)


def apply_post_changed(session: Session, event: PostCreated | PostUpdated, envelope: Envelope) -> None:
    repository.upsert_post(
        session, post_id=event.post_id, owner_id=event.owner_id, published=event.published, revision=event.revision
    )


def apply_post_deleted(session: Session, event: PostDeleted, envelope: Envelope) -> None:
    repository.tombstone_post(session, post_id=event.post_id, owner_id=event.owner_id)
    logger.info("post %d deleted with its votes", event.post_id)


def apply_user_deleted(session: Session, event: UserDeleted, envelope: Envelope) -> None:
    removed = service.delete_votes_of(session, event.user_id)
    logger.info("user %d deleted with their %d vote(s)", event.user_id, removed)


HANDLERS: dict[type[Event], Handler] = {
    PostCreated: apply_post_changed,
    PostUpdated: apply_post_changed,
    PostDeleted: apply_post_deleted,
    UserDeleted: apply_user_deleted,
}
