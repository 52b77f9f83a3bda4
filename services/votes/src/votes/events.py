"""How the votes service applies the events it consumes."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.events import Envelope, Event, Handler, PostCreated, PostDeleted, PostUpdated, UserDeleted
from votes import repository, service

logger = logging.getLogger(__name__)


async def apply_post_changed(session: AsyncSession, event: PostCreated | PostUpdated, envelope: Envelope) -> None:
    await repository.upsert_post(
        session, post_id=event.post_id, owner_id=event.owner_id, published=event.published, revision=event.revision
    )


async def apply_post_deleted(session: AsyncSession, event: PostDeleted, envelope: Envelope) -> None:
    await repository.tombstone_post(session, post_id=event.post_id, owner_id=event.owner_id)
    logger.info("post %d deleted with its votes", event.post_id)


async def apply_user_deleted(session: AsyncSession, event: UserDeleted, envelope: Envelope) -> None:
    removed = await service.delete_votes_of(session, event.user_id)
    logger.info("user %d deleted with their %d vote(s)", event.user_id, removed)


HANDLERS: dict[type[Event], Handler] = {
    PostCreated: apply_post_changed,
    PostUpdated: apply_post_changed,
    PostDeleted: apply_post_deleted,
    UserDeleted: apply_user_deleted,
}
