"""Who the caller is, as the gateway vouches for it to the services.

The gateway verifies the user's JWT, drops every identity header the client
sent, and forwards the caller in `X-Tally-Identity`: a short-lived token signed
with the internal secret that only the gateway and the services hold. A
service trusts nothing else, so a request that reaches it directly with a
forged `X-User-Id` (or any other header) and no valid assertion is anonymous.
"""

import time
from dataclasses import dataclass
from typing import Any

import jwt

IDENTITY_HEADER = "X-Tally-Identity"
# The client's address as the gateway sees it (after its trusted proxies), for the auth
# service's login throttling; a client's own copy is dropped like every X-Tally-* header.
CLIENT_ADDRESS_HEADER = "X-Tally-Client-Address"
# Headers a client might use to claim an identity; the gateway removes all of
# them, and any X-Tally-* header, before doing anything else.
CLIENT_IDENTITY_HEADERS = frozenset(
    {
        "x-tally-identity",
        "x-user-id",
        "x-user-email",
        "x-user",
        "x-forwarded-user",
        "x-forwarded-email",
        "x-remote-user",
        "remote-user",
        "x-auth-user",
        "x-auth-request-user",
        "x-auth-request-email",
    }
)
_ALGORITHM = "HS256"
_ISSUER = "tally-gateway"
_AUDIENCE = "tally-services"
ASSERTION_LIFETIME_SECONDS = 60


class IdentityError(ValueError):
    """The identity assertion is missing, forged or expired."""


@dataclass(frozen=True)
class Caller:
    user_id: int
    email: str


def is_client_identity_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in CLIENT_IDENTITY_HEADERS or lowered.startswith("x-tally-")


def sign_identity(caller: Caller, secret: str) -> str:
    now = int(time.time())
    claims = {
        "sub": str(caller.user_id),
        "email": caller.email,
        "iss": _ISSUER,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


class VerifiedIdentities:
    """The callers of identity assertions, each signature checked once: the gateway reuses each
    assertion for many requests."""

    def __init__(self, secret: str, *, max_assertions: int = 100_000) -> None:
        self._secret = secret
        self._max_assertions = max_assertions
        self._verified: dict[str, tuple[Caller, float]] = {}

    def caller(self, assertion: str) -> Caller:
        cached = self._verified.get(assertion)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        claims = _verified_claims(assertion, self._secret)
        caller = Caller(user_id=int(claims["sub"]), email=str(claims["email"]))
        if len(self._verified) >= self._max_assertions:
            self._verified.pop(next(iter(self._verified)))  # the oldest
        self._verified[assertion] = (caller, float(claims["exp"]))
        return caller


def _verified_claims(assertion: str, secret: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            assertion,
            secret,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            audience=_AUDIENCE,
            leeway=5,
            options={"require": ["sub", "email", "iss", "aud", "exp"]},
        )
        int(claims["sub"])
        return claims
    except (jwt.PyJWTError, ValueError) as error:
        raise IdentityError(str(error)) from error


# One service calling another's internal routes (which the gateway never
# exposes) says who it is the same way, with a different audience, so a user's
# identity assertion can never pass for a service's, nor the other way round.
SERVICE_HEADER = "X-Tally-Service"
_SERVICE_AUDIENCE = "tally-internal"


def sign_service(service_name: str, secret: str) -> str:
    now = int(time.time())
    claims = {"sub": service_name, "iss": service_name, "aud": _SERVICE_AUDIENCE, "iat": now, "exp": now + 60}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_service(assertion: str, secret: str) -> str:
    """The calling service's name, or IdentityError."""
    try:
        claims = jwt.decode(
            assertion,
            secret,
            algorithms=[_ALGORITHM],
            audience=_SERVICE_AUDIENCE,
            leeway=5,
            options={"require": ["sub", "aud", "exp"]},
        )
        return str(claims["sub"])
    except jwt.PyJWTError as error:
        raise IdentityError(str(error)) from error
