"""The votes service's rules: who may vote on what, once, and the count events that follow."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.db import AnyRow
from tally_shared.events import VoteCast, VoteChanged, VoteRetracted, record_event
from tally_shared.internal import PostsClient, Tally
from tally_shared.web import AccountDeletedError, Caller, ConflictError, NotFoundError, ServiceUnavailableError
from votes import repository
from votes.models import outbox

logger = logging.getLogger(__name__)
PRODUCER = "votes"


class AlreadyVotedError(ConflictError):
    def __init__(self, user_id: int, post_id: int) -> None:
        super().__init__(f"user {user_id} has already voted on post {post_id}")


class VoteNotFoundError(NotFoundError):
    detail = "Vote does not exist"


def post_not_found(post_id: int) -> NotFoundError:
    # The tutorial's words, which its clients may show.
    return NotFoundError(f"post with id: {post_id} does not exist")


async def _read_through(session: AsyncSession, post_id: int, posts_service: PostsClient) -> AnyRow | None:
    """The post from the posts service, for a post whose `post.created` is still on its way.

    Asking is rare (only for a post created in the last moments) and makes a
    vote on a post created a moment ago succeed instead of a spurious 404.
    The answer goes into the replica, ordered by revision like the events.
    """
    try:
        found = await posts_service.post_replica(post_id)
    except ServiceUnavailableError as error:
        logger.warning("post %d is not in the replica, and it cannot be read through: %s", post_id, error)
        raise
    if found is None:
        return None
    logger.info("post %d read through from the posts service ahead of its event", post_id)
    await repository.upsert_post(
        session, post_id=found.id, owner_id=found.owner_id, published=found.published, revision=found.revision
    )
    return await repository.post(session, post_id)


async def vote(
    session: AsyncSession, caller: Caller, *, post_id: int, direction: int, posts_service: PostsClient
) -> str:
    """Adds or removes the caller's vote and records its +1 or -1 for the posts service.

    Nothing here writes or locks a row that another voter of the same post needs:
    the vote row is the caller's own, and the post is only read, under a shared lock.
    """
    await repository.lock_vote(session, user_id=caller.user_id, post_id=post_id)
    known = await repository.voter_and_post(session, user_id=caller.user_id, post_id=post_id)
    if known.voter_deleted:
        raise AccountDeletedError()
    post = known if known.id is not None else await _read_through(session, post_id, posts_service)
    # Someone else's draft does not exist, as far as the caller can tell.
    if post is None or post.deleted or not (post.published or post.owner_id == caller.user_id):
        raise post_not_found(post_id)
    event_class: type[VoteChanged]
    if direction == 1:
        if not await repository.cast_vote(session, user_id=caller.user_id, post_id=post_id):
            raise AlreadyVotedError(caller.user_id, post_id)
        event_class, message = VoteCast, "successfully added vote"
    else:
        if not await repository.retract_vote(session, user_id=caller.user_id, post_id=post_id):
            raise VoteNotFoundError()
        event_class, message = VoteRetracted, "successfully deleted vote"
    await record_event(
        session,
        outbox,
        event_class(post_id=post_id, user_id=caller.user_id, count_epoch=post.count_epoch),
        producer=PRODUCER,
    )
    return message


async def delete_votes_of(session: AsyncSession, user_id: int) -> int:
    """A deleted user's votes go, and each post they were on gets a `vote.retracted`."""
    await repository.lock_user_for_deletion(session, user_id)
    await repository.add_deleted_user(session, user_id)
    voted_on = await repository.remove_votes_of(session, user_id)
    for post in voted_on:
        await record_event(
            session,
            outbox,
            VoteRetracted(post_id=post.id, user_id=user_id, count_epoch=post.count_epoch),
            producer=PRODUCER,
        )
    return len(voted_on)


async def tallies(session: AsyncSession, post_ids: list[int]) -> list[Tally]:
    """The true count of each live post, counted from its votes at a new count epoch."""
    return [
        Tally(post_id=post_id, votes=votes, count_epoch=epoch)
        for post_id, votes, epoch in await repository.recount(session, post_ids)
    ]
