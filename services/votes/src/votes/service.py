"""The votes service's rules: who may vote on what, once, and the count events that follow."""

import logging

from sqlalchemy import Row
from sqlalchemy.orm import Session

from tally_shared.errors import AccountDeletedError, ConflictError, NotFoundError, UnavailableError
from tally_shared.events import VoteCast, VoteRetracted
from tally_shared.identity import Caller
from tally_shared.internal_client import InternalClient, ServiceUnavailableError
from tally_shared.outbox import record_event
from votes import repository
from votes.models import outbox
from votes.schemas import Tally

logger = logging.getLogger(__name__)
PRODUCER = "votes"


class PostNotFoundError(NotFoundError):
    def __init__(self, post_id: int) -> None:
        super().__init__(f"post with id: {post_id} does not exist")


class AlreadyVotedError(ConflictError):
    def __init__(self, user_id: int, post_id: int) -> None:
        super().__init__(f"user {user_id} has already voted on post {post_id}")


class VoteNotFoundError(NotFoundError):
    detail = "Vote does not exist"


class PostsServiceUnavailableError(UnavailableError):
    detail = "Could not check the post right now, try again"


def _read_through(session: Session, post_id: int, posts_service: InternalClient) -> Row | None:
    """The post from the posts service, for a post whose `post.created` is still on its way.

    Asking is rare (only for a post created in the last moments) and makes a
    vote on a post created a moment ago succeed instead of a spurious 404.
    The answer goes into the replica, ordered by revision like the events.
    """
    try:
        response = posts_service.request("GET", f"/internal/posts/{post_id}")
    except ServiceUnavailableError as error:
        logger.warning("post %d is not in the replica and the posts service is unavailable: %s", post_id, error)
        raise PostsServiceUnavailableError() from error
    if response.status_code == 404:
        return None
    response.raise_for_status()
    found = response.json()
    logger.info("post %d read through from the posts service ahead of its event", post_id)
    repository.upsert_post(
        session,
        post_id=found["id"],
        owner_id=found["owner_id"],
        published=found["published"],
        revision=found["revision"],
    )
    return repository.post(session, post_id)


def vote(session: Session, caller: Caller, *, post_id: int, direction: int, posts_service: InternalClient) -> str:
    repository.lock_voter(session, caller.user_id)
    known = repository.voter_and_post(session, user_id=caller.user_id, post_id=post_id)
    if known.voter_deleted:
        raise AccountDeletedError()
    post = known if known.id is not None else _read_through(session, post_id, posts_service)
    # Someone else's draft does not exist, as far as the caller can tell.
    if post is None or post.deleted or not (post.published or post.owner_id == caller.user_id):
        raise PostNotFoundError(post_id)
    if direction == 1:
        result = repository.cast_vote(session, user_id=caller.user_id, post_id=post_id)
        if not result.changed:
            raise AlreadyVotedError(caller.user_id, post_id)
        event_class, message = VoteCast, "successfully added vote"
    else:
        result = repository.retract_vote(session, user_id=caller.user_id, post_id=post_id)
        if not result.changed:
            raise VoteNotFoundError()
        event_class, message = VoteRetracted, "successfully deleted vote"
    if result.votes is None:  # deleted while we were at it; raising rolls the vote back
        raise PostNotFoundError(post_id)
    record_event(
        session,
        outbox,
        event_class(post_id=post_id, user_id=caller.user_id, votes=result.votes, votes_version=result.votes_version),
        producer=PRODUCER,
    )
    return message


def delete_votes_of(session: Session, user_id: int) -> int:
    """A deleted user's votes go, and the posts they were on publish their lower counts."""
    repository.lock_user_for_deletion(session, user_id)
    repository.add_deleted_user(session, user_id)
    post_ids = repository.remove_votes_of(session, user_id)
    for post_id in post_ids:
        count = repository.change_count(session, post_id, -1)
        if count is not None:
            record_event(
                session,
                outbox,
                VoteRetracted(post_id=post_id, user_id=user_id, votes=count.votes, votes_version=count.votes_version),
                producer=PRODUCER,
            )
    return len(post_ids)


def tallies(session: Session, post_ids: list[int]) -> list[Tally]:
    """The true count of each live post, counted from its votes; a drifted stored count is repaired first."""
    result = []
    for post_id, stored, version, counted in repository.true_counts(session, post_ids):
        if stored != counted:
            logger.warning("post %d: stored count %d drifted from the %d votes; fixed", post_id, stored, counted)
            version = repository.set_count(session, post_id, counted)
        result.append(Tally(post_id=post_id, votes=counted, votes_version=version))
    return result
