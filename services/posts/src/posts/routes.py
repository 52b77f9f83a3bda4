"""The posts service's routes: the public ones the gateway exposes, and one internal one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from posts import repository, service
from posts.repository import FeedOrder
from posts.schemas import PostIn, PostRead, PostReplica, PostWithVotes, TitleSearch
from tally_shared.http import calling_service, current_caller, session_dependency
from tally_shared.identity import Caller

router = APIRouter(tags=["Posts"])
internal_router = APIRouter(prefix="/internal", include_in_schema=False, dependencies=[Depends(calling_service)])

SessionDep = Annotated[AsyncSession, Depends(session_dependency, scope="function")]
CurrentCaller = Annotated[Caller, Depends(current_caller)]
PostId = Annotated[int, Path(gt=0, le=2**63 - 1)]
_ERROR_BODY = {
    "application/json": {
        "schema": {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    }
}


@router.get(
    "/posts",
    response_model=list[PostWithVotes],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'The next page, when there may be one: `</posts?...&cursor=...>; rel="next"`',
                    "schema": {"type": "string"},
                }
            }
        },
        400: {
            "description": "A cursor that is not one this API gave, or given with another `order` or a `skip`",
            "content": _ERROR_BODY,
        },
        410: {"description": "An `order=top` cursor older than an hour: start the walk again", "content": _ERROR_BODY},
    },
)
async def list_posts(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    skip: Annotated[int, Query(ge=0, le=2**31 - 1, description="Prefer `cursor` to go deep: its cost is flat")] = 0,
    search: Annotated[TitleSearch | None, Query(description="Case-insensitive substring of the title")] = None,
    order: Annotated[FeedOrder, Query(description="`new`: newest first; `top`: most votes first")] = "new",
    cursor: Annotated[
        str | None,
        Query(
            max_length=4096,
            description="Opaque: the next page, as the previous response's `Link` header gives it. "
            "No post is repeated or skipped while posts are created, voted on or deleted meanwhile.",
        ),
    ] = None,
):
    """Published posts and the caller's own drafts, each with its vote count.

    A full page carries a `Link: <...>; rel="next"` header, the URL of the next page (by cursor).
    """
    page = await service.feed(session, caller, limit=limit, skip=skip, search=search, order=order, cursor=cursor)
    if page.next_cursor is not None:
        following = request.url.remove_query_params("skip").include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return page.posts


@router.get("/posts/{id}", response_model=PostWithVotes)
async def get_post(id: PostId, caller: CurrentCaller, session: SessionDep):
    """One post with its vote count; someone else's draft is 404."""
    return await service.get(session, caller, id)


@router.post("/posts", status_code=status.HTTP_201_CREATED, response_model=PostRead)
async def create_post(post: PostIn, caller: CurrentCaller, session: SessionDep):
    """Create a post owned by the caller."""
    return await service.create(session, caller, post)


@router.put("/posts/{id}", response_model=PostRead)
async def replace_post(id: PostId, post: PostIn, caller: CurrentCaller, session: SessionDep):
    """Replace one of the caller's posts."""
    return await service.replace(session, caller, id, post)


@router.delete("/posts/{id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_post(id: PostId, caller: CurrentCaller, session: SessionDep):
    """Delete one of the caller's posts, and with it its votes."""
    await service.delete(session, caller, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@internal_router.get("/posts/{id}", response_model=PostReplica)
async def post_for_replica(id: PostId, session: SessionDep):
    """What the votes service needs of a post its replica does not have yet."""
    row = await repository.post_replica(session, id)
    if row is None:
        raise service.PostNotFoundError()
    return row
