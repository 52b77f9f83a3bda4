"""The auth service's routes, as the gateway exposes them."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from auth.keys import KeyRing
from auth.schemas import JWKS, LoginForm, Token, UserCreate, UserRead
from auth.service import AuthService, InvalidCredentialsError
from tally_shared.db import AnyRow
from tally_shared.web import (
    CLIENT_ADDRESS_HEADER,
    CurrentCaller,
    Idempotency,
    IdInPath,
    SessionDep,
    error_response,
    error_responses,
    idempotency_openapi,
    resource,
)

router = APIRouter()

UserId = IdInPath
ServiceDep = Annotated[AuthService, Depends(resource(AuthService))]
KeyRingDep = Annotated[KeyRing, Depends(resource(KeyRing))]


async def client_address(request: Request) -> str:
    """The client's address as the gateway saw it; the peer's own when called without the gateway."""
    return request.headers.get(CLIENT_ADDRESS_HEADER) or (request.client.host if request.client else "unknown")


ClientAddress = Annotated[str, Depends(client_address)]


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
    responses=error_responses(
        403,
        429,
        descriptions={
            403: "Invalid Credentials: a wrong email or password (the same answer for an unknown email)",
            429: "Too many failed logins for this account or from this address lately: "
            "retry after `Retry-After` seconds",
        },
    ),
)
async def login(
    form: Annotated[LoginForm, Depends()], session: SessionDep, service: ServiceDep, address: ClientAddress
) -> Token | JSONResponse:
    """Exchange an email (the `username` field) and password for a bearer token.

    Failed logins are throttled per account and per client address (429 with `Retry-After`),
    the same whether or not the account exists."""
    token = await service.login(session, email=form.username, password=form.password, client_address=address)
    if token is None:
        # Answered, not raised: raising would roll back the failure just counted.
        return error_response(InvalidCredentialsError())
    return Token(access_token=token)


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
    openapi_extra=idempotency_openapi(status.HTTP_204_NO_CONTENT),
)
async def delete_me(
    caller: CurrentCaller, session: SessionDep, service: ServiceDep, idempotency: Idempotency
) -> Response:
    """Delete the caller's account. Their posts and votes disappear everywhere, the counts
    of the posts they voted on drop, and their tokens stop working, within the event lag.

    A retry with the same `Idempotency-Key` replays the 204 while the token still reaches
    this service; once the gateway has revoked the deleted user's tokens (within about a
    second), it answers 401 instead: the account is gone either way."""
    return await idempotency.respond(
        lambda: service.delete_user(session, caller.user_id), status_code=status.HTTP_204_NO_CONTENT
    )


@router.get("/users/{id}", response_model=UserRead, tags=["Users"], responses=error_responses(404))
async def read_user(id: UserId, caller: CurrentCaller, session: SessionDep, service: ServiceDep) -> AnyRow:
    """A user by id."""
    return await service.get_user(session, id)


@router.get("/.well-known/jwks.json", response_model=JWKS, tags=["Authentication"])
async def jwks(keyring: KeyRingDep) -> dict[str, list[dict[str, Any]]]:
    """The public keys that verify the tokens this service signs."""
    return keyring.jwks()
