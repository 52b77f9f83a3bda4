"""The votes service's routes: `POST /vote` through the gateway, and one internal route."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from tally_shared.internal import TALLIES_ROUTE, PostsClient, TalliesRequest, TalliesResponse
from tally_shared.web import (
    CurrentCaller,
    Idempotency,
    SessionDep,
    error_responses,
    idempotency_openapi,
    internal_router,
    resource,
)
from votes import service
from votes.schemas import VoteIn, VoteResult

router = APIRouter(tags=["Votes"])
internal = internal_router()

PostsService = Annotated[PostsClient, Depends(resource(PostsClient))]


@router.post(
    "/vote",
    status_code=status.HTTP_201_CREATED,
    response_model=VoteResult,
    responses=error_responses(
        404,
        409,
        descriptions={
            404: "No such post (or someone else's draft), or removing a vote that does not exist",
            409: "The caller already voted on this post",
        },
    ),
    openapi_extra=idempotency_openapi(status.HTTP_201_CREATED),
)
async def vote(
    body: VoteIn,
    caller: CurrentCaller,
    session: SessionDep,
    posts: PostsService,
    idempotency: Idempotency,
) -> Response:
    """Add (`dir: 1`) or remove (`dir: 0`) the caller's vote on a post."""

    async def cast_or_retract() -> VoteResult:
        message = await service.vote(session, caller, post_id=body.post_id, direction=body.dir, posts_service=posts)
        return VoteResult(message=message)

    return await idempotency.respond(cast_or_retract, status_code=status.HTTP_201_CREATED, model=VoteResult)


@internal.post(TALLIES_ROUTE, response_model=TalliesResponse)
async def tallies(body: TalliesRequest, session: SessionDep) -> TalliesResponse:
    """The true counts of the given posts, each at a new count epoch, for the posts service's reconciliation."""
    return TalliesResponse(tallies=await service.tallies(session, body.post_ids))
