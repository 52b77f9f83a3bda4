"""The auth service's rules: registration, login, tokens."""

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
from tally_shared.database import AnyRow
from tally_shared.errors import ConflictError, DomainError, NotFoundError
from tally_shared.events import UserDeleted, UserRegistered
from tally_shared.outbox import record_event


class EmailTakenError(ConflictError):
    detail = "Email already registered"


class InvalidCredentialsError(DomainError):
    status_code = 403
    detail = "Invalid Credentials"


class UserNotFoundError(NotFoundError):
    detail = "User not found"


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

    async def login(self, session: AsyncSession, *, email: str, password: str) -> str:
        user = await repository.user_by_email(session, email)
        if user is None:
            await self._verify(self._dummy_hash, password)
            raise InvalidCredentialsError()
        if not await self._verify(user.password_hash, password):
            raise InvalidCredentialsError()
        if self._hasher.check_needs_rehash(user.password_hash):
            await repository.set_password_hash(session, user.id, await self._hash(password))
        return self.issue_token(user_id=user.id, email=user.email)

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
