from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tally_testing import client_of, delete_namespace, emptied, prepare_service_database, unique_namespace

DATABASE_URL = prepare_service_database("posts", Path(__file__).parents[1] / "alembic.ini")

from posts.app import create_app  # noqa: E402  (needs the test database URL set above)
from posts.models import metadata  # noqa: E402
from posts.settings import PostsSettings  # noqa: E402


@pytest.fixture
async def settings() -> AsyncIterator[PostsSettings]:
    settings = PostsSettings(database_url=DATABASE_URL, event_namespace=unique_namespace())
    yield settings
    await delete_namespace(settings.event_namespace, ["posts"])


@pytest.fixture
async def app(settings: PostsSettings) -> AsyncIterator:
    async with emptied(create_app(settings), metadata) as app:
        yield app


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app, "posts") as client:
        yield client
