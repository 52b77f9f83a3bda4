"""The auth service's routes, as the gateway exposes them."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from auth.keys import KeyRing
from auth.schemas import JWKS, LoginForm, Token, UserCreate, UserRead
from auth.service import AuthService
from tally_shared.database import AnyRow
from tally_shared.http import current_caller, session_dependency
from tally_shared.identity import Caller
from tally_shared.inputs import IdInPath
from tally_shared.openapi import error_responses

router = APIRouter()

SessionDep = Annotated[AsyncSession, Depends(session_dependency, scope="function")]
CurrentCaller = Annotated[Caller, Depends(current_caller)]
UserId = IdInPath


async def get_service(request: Request) -> AuthService:
    auth_service: AuthService = request.app.state.auth_service
    return auth_service


ServiceDep = Annotated[AuthService, Depends(get_service)]


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    tags=["Users"],
    responses=error_responses(409, descriptions={409: "The email is taken (emails match regardless of case)"}),
)
async def create_user(user: UserCreate, session: SessionDep, service: ServiceDep) -> AnyRow:
    """Register a user. Emails are unique regardless of case."""
    return await service.register(session, email=str(user.email), password=user.password)


@router.post(
    "/login",
    response_model=Token,
    tags=["Authentication"],
    responses=error_responses(403, descriptions={403: "Invalid Credentials: a wrong email or password"}),
)
async def login(form: Annotated[LoginForm, Depends()], session: SessionDep, service: ServiceDep) -> Token:
    """Exchange an email (the `username` field) and password for a bearer token."""
    return Token(access_token=await service.login(session, email=form.username, password=form.password))


@router.get("/users/me", response_model=UserRead, tags=["Users"], responses=error_responses(404))
async def read_me(caller: CurrentCaller, session: SessionDep, service: ServiceDep) -> AnyRow:
    """The user the bearer token belongs to."""
    return await service.get_user(session, caller.user_id)


@router.delete(
    "/users/me",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["Users"],
    responses=error_responses(404),
)
async def delete_me(caller: CurrentCaller, session: SessionDep, service: ServiceDep) -> Response:
    """Delete the caller's account. Their posts and votes disappear everywhere, the counts
    of the posts they voted on drop, and their tokens stop working, within the event lag."""
    await service.delete_user(session, caller.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{id}", response_model=UserRead, tags=["Users"], responses=error_responses(404))
async def read_user(id: UserId, caller: CurrentCaller, session: SessionDep, service: ServiceDep) -> AnyRow:
    """A user by id."""
    return await service.get_user(session, id)


@router.get("/.well-known/jwks.json", response_model=JWKS, tags=["Authentication"])
async def jwks(request: Request) -> dict[str, list[dict[str, Any]]]:
    """The public keys that verify the tokens this service signs."""
    keyring: KeyRing = request.app.state.keyring
    return keyring.jwks()
