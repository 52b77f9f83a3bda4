"""The votes service's routes: `POST /vote` through the gateway, and one internal route."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.http import calling_service, current_caller, session_dependency
from tally_shared.idempotency import IdempotentWrite, idempotency_openapi, idempotent_write
from tally_shared.identity import Caller
from tally_shared.internal_client import InternalClient
from tally_shared.openapi import error_responses
from votes import service
from votes.models import idempotency_keys
from votes.schemas import TalliesRequest, TalliesResponse, VoteIn, VoteResult

router = APIRouter(tags=["Votes"])
internal_router = APIRouter(prefix="/internal", include_in_schema=False, dependencies=[Depends(calling_service)])

SessionDep = Annotated[AsyncSession, Depends(session_dependency, scope="function")]
CurrentCaller = Annotated[Caller, Depends(current_caller)]
Idempotency = Annotated[IdempotentWrite, Depends(idempotent_write(idempotency_keys))]


async def posts_service(request: Request) -> InternalClient:
    client: InternalClient = request.app.state.posts_service
    return client


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
    posts: Annotated[InternalClient, Depends(posts_service)],
    idempotency: Idempotency,
) -> Response:
    """Add (`dir: 1`) or remove (`dir: 0`) the caller's vote on a post."""

    async def cast_or_retract() -> VoteResult:
        message = await service.vote(session, caller, post_id=body.post_id, direction=body.dir, posts_service=posts)
        return VoteResult(message=message)

    return await idempotency.respond(cast_or_retract, status_code=status.HTTP_201_CREATED, model=VoteResult)


@internal_router.post("/tallies", response_model=TalliesResponse)
async def tallies(body: TalliesRequest, session: SessionDep) -> TalliesResponse:
    """The true counts of the given posts, each at a new count epoch, for the posts service's reconciliation."""
    return TalliesResponse(tallies=await service.tallies(session, body.post_ids))
