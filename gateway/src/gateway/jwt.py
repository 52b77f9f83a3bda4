"""Verifying the users' access tokens against the auth service's JWKS.

The auth service alone holds the private key; the gateway knows only the
public keys it publishes at `/.well-known/jwks.json`, cached by `kid`. A token
with a `kid` the cache does not know triggers a refetch (at most once per
`refresh_min_interval`, so a flood of made-up kids cannot hammer the auth
service), which is how a key rotation takes effect without a restart.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt

from tally_shared.web import Caller

logger = logging.getLogger(__name__)

# The auth service signs with Ed25519. Pinning the list is what refuses `none`,
# HS256 keyed with the public key and every other algorithm-confusion trick.
ALLOWED_ALGORITHMS = ("EdDSA",)
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
MAX_VERIFIED_TOKENS = 100_000

JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]


class InvalidTokenError(Exception):
    """The token is missing, malformed, forged, expired or signed by a key we do not know."""


class TokenVerifier:
    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        issuer: str,
        audience: str,
        leeway: float = 10,
        refresh_min_interval: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch_jwks = fetch_jwks
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._refresh_min_interval = refresh_min_interval
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_fetch: float | None = None
        self._refresh_lock = asyncio.Lock()
        # Tokens already verified, with their `exp` and `kid`: a client sends the same token
        # with every request, and checking a signature costs more than the rest of the request.
        self._verified: dict[str, tuple[Caller, float, str]] = {}

    async def verify(self, token: str) -> Caller:
        """The caller the token names, or `InvalidTokenError`."""
        cached = self._verified.get(token)
        if cached is not None:
            caller, expires_at, kid = cached
            # Still unexpired, and its key still published (a removed key revokes its tokens).
            if time.time() < expires_at + self._leeway and kid in self._keys:
                return caller
            del self._verified[token]
        caller, expires_at, kid = await self._verify_signed(token)
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            self._verified.pop(next(iter(self._verified)))  # the oldest
        self._verified[token] = (caller, expires_at, kid)
        return caller

    async def _verify_signed(self, token: str) -> tuple[Caller, float, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidTokenError("malformed token") from error
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise InvalidTokenError(f"algorithm {algorithm!r} is not allowed")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("token has no kid")
        key = await self._key(kid)
        if key is None:
            raise InvalidTokenError(f"unknown kid {kid!r}")
        if key.algorithm_name != algorithm:
            raise InvalidTokenError("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(ALLOWED_ALGORITHMS),
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from error
        return _caller(claims), float(claims["exp"]), kid

    async def _key(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._refresh_lock:
            # Another request may have refreshed while this one waited for the lock.
            if kid not in self._keys and self._may_refresh():
                await self._refresh()
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        return self._last_fetch is None or self._clock() - self._last_fetch >= self._refresh_min_interval

    async def _refresh(self) -> None:
        # A failed attempt counts too: while the auth service is down we do not
        # ask it again on every request.
        self._last_fetch = self._clock()
        try:
            jwks = await self._fetch_jwks()
        except Exception:
            logger.warning("could not fetch the JWKS; keeping %d cached key(s)", len(self._keys), exc_info=True)
            return
        self._keys = parse_jwks(jwks)
        logger.info("JWKS refreshed: kids %s", sorted(self._keys))


def parse_jwks(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS by kid; keys we cannot use are skipped."""
    keys: dict[str, jwt.PyJWK] = {}
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            logger.warning("skipping unusable JWK %r", entry.get("kid"))
            continue
        if key.algorithm_name in ALLOWED_ALGORITHMS:
            keys[entry["kid"]] = key
    return keys


def _caller(claims: Mapping[str, Any]) -> Caller:
    subject, email = claims.get("sub"), claims.get("email")
    if not isinstance(subject, str) or not (subject.isascii() and subject.isdigit()) or int(subject) <= 0:
        raise InvalidTokenError("sub is not a user id")
    if not isinstance(email, str):
        raise InvalidTokenError("token has no email")
    return Caller(user_id=int(subject), email=email)
