"""How the posts service applies the events it consumes."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from posts import repository, service
from tally_shared.events import (
    BatchHandler,
    Envelope,
    Event,
    Handler,
    UserDeleted,
    UserRegistered,
    VoteCast,
    VoteChanged,
    VoteRetracted,
)

logger = logging.getLogger(__name__)


async def apply_user_registered(session: AsyncSession, event: UserRegistered, envelope: Envelope) -> None:
    await repository.upsert_registered_user(
        session, user_id=event.user_id, email=event.email, created_at=event.created_at
    )
    logger.info("user %d replicated", event.user_id)


async def apply_user_deleted(session: AsyncSession, event: UserDeleted, envelope: Envelope) -> None:
    deleted = await service.delete_everything_of(session, event.user_id)
    logger.info("user %d deleted with their %d post(s)", event.user_id, deleted)


async def apply_vote_changes(session: AsyncSession, events: list[tuple[VoteChanged, Envelope]]) -> None:
    """Each post's +1s and -1s of the batch, added up and applied in one statement."""
    changed = await repository.add_votes(
        session, [(event.post_id, event.count_epoch, event.delta) for event, _ in events]
    )
    logger.debug("applied %d vote event(s) to %d post(s)", len(events), changed)
    # The journal of count changes grows with every batch; the batches keep it to the cursors' lifetime.
    await repository.prune_count_changes(session, older_than=service.COUNT_CHANGES_KEPT)


HANDLERS: dict[type[Event], Handler] = {
    UserRegistered: apply_user_registered,
    UserDeleted: apply_user_deleted,
}
BATCH_HANDLERS: dict[type[Event], BatchHandler] = {VoteCast: apply_vote_changes, VoteRetracted: apply_vote_changes}
