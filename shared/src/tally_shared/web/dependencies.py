"""The dependencies of a service's routes, declared once: the request's transaction, the caller
the gateway vouched for, the service calling an internal route.

    @router.get("/posts/{id}")
    async def get_post(id: IdInPath, caller: CurrentCaller, session: SessionDep) -> PostRead: ...
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.web.errors import NotAuthenticatedError
from tally_shared.web.identity import IDENTITY_HEADER, SERVICE_HEADER, Caller, IdentityError, verify_service
from tally_shared.web.state import service_state


async def session_dependency(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction (`Database.transaction`)."""
    async with service_state(request).database.transaction() as session:
        yield session


# Function scope: the transaction commits before the response is sent, so a failed commit is
# an error answer, not a write reported as done and then lost.
SessionDep = Annotated[AsyncSession, Depends(session_dependency, scope="function")]


async def current_caller(request: Request) -> Caller:
    """The caller the gateway vouched for in `X-Tally-Identity`, or 401."""
    assertion = request.headers.get(IDENTITY_HEADER)
    if not assertion:
        raise NotAuthenticatedError()
    try:
        return service_state(request).identities.caller(assertion)
    except IdentityError as error:
        raise NotAuthenticatedError("Could not validate credentials") from error


CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def calling_service(request: Request) -> str:
    """For internal routes: the service that signed `X-Tally-Service`, or 401."""
    assertion = request.headers.get(SERVICE_HEADER)
    if not assertion:
        raise NotAuthenticatedError()
    secret = service_state(request).settings.internal_secret.get_secret_value()
    try:
        return verify_service(assertion, secret)
    except IdentityError as error:
        raise NotAuthenticatedError("Could not validate the calling service") from error


# Where every service's internal routes live; the gateway never routes it.
INTERNAL_PREFIX = "/internal"


def internal_router() -> APIRouter:
    """A router for `/internal/...` routes: only another Tally service may call them, they are
    left out of the public API document, and the gateway never routes them."""
    return APIRouter(prefix=INTERNAL_PREFIX, include_in_schema=False, dependencies=[Depends(calling_service)])
