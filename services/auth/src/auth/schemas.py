"""What comes in and goes out; the password hash has no way into a response."""

from datetime import datetime
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from fastapi import Form
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from tally_shared.web import RefuseNul, StorableText


def _case_insensitive(name: str) -> str:
    return "".join(f"[{char.lower()}{char.upper()}]" if char.isalpha() else char for char in name)


# email-validator (behind EmailStr) refuses an address on a special-use domain (`.test`,
# `.invalid`, ...), which JSON Schema's `format: email` admits; the schema says so, so that
# clients and fuzzers generated from it know the rule.
NOT_ON_A_SPECIAL_USE_DOMAIN = (
    r"^[^@]*@(?!(?:[^@]*\.)?(?:" + "|".join(map(_case_insensitive, SPECIAL_USE_DOMAIN_NAMES)) + r")\.?$)"
)
RegistrableEmail = Annotated[
    EmailStr,
    Field(
        description="An email address (checked by email-validator), not on a special-use domain "
        f"({', '.join(f'`.{name}`' for name in SPECIAL_USE_DOMAIN_NAMES)})",
        json_schema_extra={"pattern": NOT_ON_A_SPECIAL_USE_DOMAIN},
    ),
]


class UserCreate(BaseModel):
    # EmailStr already refuses a NUL, as it refuses every control character.
    email: RegistrableEmail
    # Only its hash is stored, but a password the login form would refuse must not be registered.
    password: Annotated[str, Field(min_length=8, max_length=128), RefuseNul]


class LoginForm(OAuth2PasswordRequestForm):
    """OAuth2's password flow form, which Swagger UI's Authorize sends: `username` is the email.

    The same fields as FastAPI's form, with the two this service reads refusing a NUL
    (the email is looked up in PostgreSQL); the others are ignored.
    """

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[StorableText, Form()],
        password: Annotated[StorableText, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: EmailStr
    created_at: datetime


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class JWKS(BaseModel):
    keys: list[dict[str, str]]
