"""How the posts service applies the events it consumes."""

import logging

from sqlalchemy.orm import Session

from posts import repository
from tally_shared.consumer import Handler
from tally_shared.events import Envelope, Event, UserRegistered

logger = logging.getLogger(__name__)


def apply_user_registered(session: Session, event: UserRegistered, envelope: Envelope) -> None:
    repository.upsert_user(
        session, user_id=event.user_id, email=event.email, created_at=event.created_at
    )
    logger.info("user %d replicated", event.user_id)


HANDLERS: dict[type[Event], Handler] = {UserRegistered: apply_user_registered}
