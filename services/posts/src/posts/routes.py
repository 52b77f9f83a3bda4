"""The posts service's routes: the public ones the gateway exposes, and one internal one."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from posts import repository, service
from posts.repository import FeedOrder
from posts.schemas import PostIn, PostRead, PostWithVotes, TitleSearch
from tally_shared.db import AnyRow
from tally_shared.internal import POST_REPLICA_ROUTE, PostReplica
from tally_shared.web import (
    CurrentCaller,
    Idempotency,
    IdInPath,
    SessionDep,
    error_responses,
    idempotency_openapi,
    internal_router,
)

router = APIRouter(tags=["Posts"])
internal = internal_router()

POST_NOT_FOUND = {404: "No such post, or someone else's draft"}
NOT_THE_OWNER = {403: "The post is not the caller's"}

PostId = IdInPath


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


@internal.get(POST_REPLICA_ROUTE, response_model=PostReplica)
async def post_for_replica(id: PostId, session: SessionDep) -> AnyRow:
    """What the votes service needs of a post its replica does not have yet."""
    row = await repository.post_replica(session, id)
    if row is None:
        raise service.PostNotFoundError()
    return row
