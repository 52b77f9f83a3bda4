from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tally_shared.web import IDENTITY_HEADER, Caller, sign_identity
from tally_testing import client_of, emptied, prepare_service_database

DATABASE_URL = prepare_service_database("auth", Path(__file__).parents[1] / "alembic.ini")

from auth.app import create_app  # noqa: E402  (needs the test database URL set above)
from auth.models import metadata  # noqa: E402
from auth.settings import AuthSettings  # noqa: E402

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(tmp_path) -> AuthSettings:
    return AuthSettings(database_url=DATABASE_URL, jwt_keys_dir=tmp_path / "keys")


@pytest.fixture
async def app(settings):
    async with emptied(create_app(settings), metadata) as app:
        yield app


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app, "auth") as client:
        yield client


def as_caller(settings: AuthSettings, user: dict) -> dict[str, str]:
    """The header the gateway adds once it has verified the caller's token."""
    assertion = sign_identity(Caller(user["id"], user["email"]), settings.internal_secret.get_secret_value())
    return {IDENTITY_HEADER: assertion}


async def register(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict:
    response = await client.post("/users", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()
