"""The auth service's rules: registration, login, tokens."""

import math
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from auth import repository
from auth.keys import ALGORITHM, KeyRing
from auth.models import outbox
from auth.settings import AuthSettings
from tally_shared.db import AnyRow
from tally_shared.events import UserDeleted, UserRegistered, record_event
from tally_shared.web import ConflictError, DomainError, NotFoundError


class EmailTakenError(ConflictError):
    detail = "Email already registered"


class InvalidCredentialsError(DomainError):
    status_code = 403
    detail = "Invalid Credentials"


class UserNotFoundError(NotFoundError):
    detail = "User not found"


class LoginThrottledError(DomainError):
    status_code = 429
    detail = "Too many failed logins; try again later"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.headers = {"Retry-After": str(retry_after_seconds)}


class AuthService:
    def __init__(self, settings: AuthSettings, keyring: KeyRing, hasher: PasswordHasher | None = None) -> None:
        self._settings = settings
        self._keyring = keyring
        self._hasher = hasher or PasswordHasher()
        # Verified against when the email is unknown, so that answer takes as long
        # as a wrong password and does not reveal which emails are registered.
        self._dummy_hash = self._hasher.hash(uuid.uuid4().hex)

    async def register(self, session: AsyncSession, *, email: str, password: str) -> AnyRow:
        password_hash = await self._hash(password)
        user = await repository.add_user(session, email=email, password_hash=password_hash)
        if user is None:
            raise EmailTakenError()
        await record_event(
            session,
            outbox,
            UserRegistered(user_id=user.id, email=user.email, created_at=user.created_at),
            producer=self._settings.service_name,
        )
        return user

    async def login(self, session: AsyncSession, *, email: str, password: str, client_address: str) -> str | None:
        """A token, or None for a wrong email or password: that failure is counted in `session`,
        so the caller must let it commit (answer, not raise). LoginThrottledError (429) when the
        account or the address has failed too often lately (docs/login-throttling.md).

        An unknown email is counted and throttled exactly like a registered one, and costs the
        same password hash, so neither the answer nor its timing tells them apart.
        """
        account, address = await repository.login_subjects(session, email=email, client_address=client_address)
        # One attempt at a time per account: parallel guesses would all pass the count below.
        if not await repository.try_lock_login(session, account):
            raise LoginThrottledError(1)
        await self._refuse_if_throttled(session, account=account, address=address)
        user = await repository.user_by_email(session, email)
        if user is None:
            await self._verify(self._dummy_hash, password)
        if user is None or not await self._verify(user.password_hash, password):
            await repository.add_login_failure(session, [account, address], self._login_window)
            return None
        await repository.forget_login_failures(session, account)
        if self._hasher.check_needs_rehash(user.password_hash):
            await repository.set_password_hash(session, user.id, await self._hash(password))
        return self.issue_token(user_id=user.id, email=user.email)

    @property
    def _login_window(self) -> timedelta:
        return timedelta(seconds=self._settings.login_window_seconds)

    async def _refuse_if_throttled(self, session: AsyncSession, *, account: bytes, address: bytes) -> None:
        allowance = {
            account: self._settings.login_failures_per_account,
            address: self._settings.login_failures_per_address,
        }
        wait = 0.0
        for subject, failures, seconds_since_last in await repository.recent_failures(
            session, list(allowance), self._login_window
        ):
            if failures >= allowance[subject]:
                wait = max(wait, self.backoff_seconds(failures - allowance[subject]) - float(seconds_since_last))
        if wait > 0:
            raise LoginThrottledError(math.ceil(wait))

    def backoff_seconds(self, failures_past_allowance: int) -> float:
        """How long after its latest failure a subject waits: doubling from the base with each
        failure past its allowance, and never longer than the window, so that no one is
        refused for longer than the window after the last failed attempt."""
        doublings = min(failures_past_allowance, 64)  # past 2**64 any base is beyond any window
        return float(min(self._settings.login_window_seconds, self._settings.login_backoff_base_seconds * 2**doublings))

    async def get_user(self, session: AsyncSession, user_id: int) -> AnyRow:
        user = await repository.user_by_id(session, user_id)
        if user is None:
            raise UserNotFoundError()
        return user

    async def delete_user(self, session: AsyncSession, user_id: int) -> None:
        """The account goes now; its posts, votes and tokens follow through `user.deleted`."""
        if not await repository.delete_user(session, user_id):
            raise UserNotFoundError()
        await record_event(session, outbox, UserDeleted(user_id=user_id), producer=self._settings.service_name)

    def issue_token(self, *, user_id: int, email: str) -> str:
        now = datetime.now(UTC)
        key = self._keyring.signing_key()
        claims = {
            "sub": str(user_id),
            "user_id": user_id,
            "email": email,
            "iat": now,
            "exp": now + timedelta(minutes=self._settings.access_token_expire_minutes),
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    # Argon2 is tens of milliseconds of CPU by design: it runs in a worker thread, so the
    # event loop keeps serving other requests meanwhile. Only hashing goes there, never the database.
    async def _hash(self, password: str) -> str:
        return await to_thread.run_sync(self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        return await to_thread.run_sync(self._verify_blocking, password_hash, password)

    def _verify_blocking(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
