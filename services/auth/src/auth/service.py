"""The auth service's rules: registration, login, tokens."""

import uuid
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row
from sqlalchemy.orm import Session

from auth import repository
from auth.keys import ALGORITHM, KeyRing
from auth.models import outbox
from auth.settings import AuthSettings
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

    def register(self, session: Session, *, email: str, password: str) -> Row:
        password_hash = self._hasher.hash(password)
        try:
            user = repository.add_user(session, email=email, password_hash=password_hash)
        except repository.DuplicateEmailError as error:
            raise EmailTakenError() from error
        record_event(
            session,
            outbox,
            UserRegistered(user_id=user.id, email=user.email, created_at=user.created_at),
            producer=self._settings.service_name,
        )
        return user

    def login(self, session: Session, *, email: str, password: str) -> str:
        user = repository.user_by_email(session, email)
        if user is None:
            self._verify(self._dummy_hash, password)
            raise InvalidCredentialsError()
        if not self._verify(user.password_hash, password):
            raise InvalidCredentialsError()
        if self._hasher.check_needs_rehash(user.password_hash):
            repository.set_password_hash(session, user.id, self._hasher.hash(password))
        return self.issue_token(user_id=user.id, email=user.email)

    def get_user(self, session: Session, user_id: int) -> Row:
        user = repository.user_by_id(session, user_id)
        if user is None:
            raise UserNotFoundError()
        return user

    def delete_user(self, session: Session, user_id: int) -> None:
        """The account goes now; its posts, votes and tokens follow through `user.deleted`."""
        if not repository.delete_user(session, user_id):
            raise UserNotFoundError()
        record_event(session, outbox, UserDeleted(user_id=user_id), producer=self._settings.service_name)

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

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
