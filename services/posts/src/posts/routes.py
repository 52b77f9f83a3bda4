"""The posts service's routes: the public ones the gateway exposes, and one internal one."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from posts import repository, service
from posts.models import idempotency_keys
from posts.repository import FeedOrder
from posts.schemas import PostIn, PostRead, PostReplica, PostWithVotes, TitleSearch
from tally_shared.database import AnyRow
from tally_shared.http import calling_service, current_caller, session_dependency
from tally_shared.idempotency import IdempotentWrite, idempotency_openapi, idempotent_write
from tally_shared.identity import Caller
from tally_shared.inputs import IdInPath
from tally_shared.openapi import error_responses

router = APIRouter(tags=["Posts"])
internal_router = APIRouter(prefix="/internal", include_in_schema=False, dependencies=[Depends(calling_service)])

POST_NOT_FOUND = {404: "No such post, or someone else's draft"}
NOT_THE_OWNER = {403: "The post is not the caller's"}

SessionDep = Annotated[AsyncSession, Depends(session_dependency, scope="function")]
CurrentCaller = Annotated[Caller, Depends(current_caller)]
PostId = IdInPath
Idempotency = Annotated[IdempotentWrite, Depends(idempotent_write(idempotency_keys))]


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
        **error_responses(
            400,
            410,
            descriptions={
                400: "A cursor that is not one this API gave, or given with another `order` or a `skip`",
                410: "An `order=top` cursor older than an hour: start the walk again",
            },
        ),
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
) -> list[dict[str, Any]]:
    """Published posts and the caller's own drafts, each with its vote count.

    A full page carries a `Link: <...>; rel="next"` header, the URL of the next page (by cursor).
    """
    page = await service.feed(session, caller, limit=limit, skip=skip, search=search, order=order, cursor=cursor)
    if page.next_cursor is not None:
        following = request.url.remove_query_params("skip").include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return page.posts


@router.get("/posts/{id}", response_model=PostWithVotes, responses=error_responses(404, descriptions=POST_NOT_FOUND))
async def get_post(id: PostId, caller: CurrentCaller, session: SessionDep) -> dict[str, Any]:
    """One post with its vote count; someone else's draft is 404."""
    return await service.get(session, caller, id)


@router.post(
    "/posts",
    status_code=status.HTTP_201_CREATED,
    response_model=PostRead,
    openapi_extra=idempotency_openapi(status.HTTP_201_CREATED),
)
async def create_post(post: PostIn, caller: CurrentCaller, session: SessionDep, idempotency: Idempotency) -> Response:
    """Create a post owned by the caller."""
    return await idempotency.respond(
        lambda: service.create(session, caller, post), status_code=status.HTTP_201_CREATED, model=PostRead
    )


@router.put(
    "/posts/{id}",
    response_model=PostRead,
    responses=error_responses(403, 404, descriptions={**NOT_THE_OWNER, **POST_NOT_FOUND}),
    openapi_extra=idempotency_openapi(status.HTTP_200_OK),
)
async def replace_post(
    id: PostId, post: PostIn, caller: CurrentCaller, session: SessionDep, idempotency: Idempotency
) -> Response:
    """Replace one of the caller's posts."""
    return await idempotency.respond(
        lambda: service.replace(session, caller, id, post), status_code=status.HTTP_200_OK, model=PostRead
    )


@router.delete(
    "/posts/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(403, 404, descriptions={**NOT_THE_OWNER, **POST_NOT_FOUND}),
    openapi_extra=idempotency_openapi(status.HTTP_204_NO_CONTENT),
)
async def delete_post(id: PostId, caller: CurrentCaller, session: SessionDep, idempotency: Idempotency) -> Response:
    """Delete one of the caller's posts, and with it its votes."""
    return await idempotency.respond(
        lambda: service.delete(session, caller, id), status_code=status.HTTP_204_NO_CONTENT
    )


@internal_router.get("/posts/{id}", response_model=PostReplica)
async def post_for_replica(id: PostId, session: SessionDep) -> AnyRow:
    """What the votes service needs of a post its replica does not have yet."""
    row = await repository.post_replica(session, id)
    if row is None:
        raise service.PostNotFoundError()
    return row
