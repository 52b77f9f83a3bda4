from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tally_testing import delete_namespace, prepare_service_database, unique_namespace

DATABASE_URL = prepare_service_database("posts", Path(__file__).parents[1] / "alembic.ini")

from posts.app import create_app  # noqa: E402  (needs the test database URL set above)
from posts.settings import PostsSettings  # noqa: E402
from tally_shared.web import app_state  # noqa: E402


@pytest.fixture
async def settings() -> AsyncIterator[PostsSettings]:
    settings = PostsSettings(database_url=DATABASE_URL, event_namespace=unique_namespace())
    yield settings
    await delete_namespace(settings.event_namespace, ["posts"])


@pytest.fixture
async def app(settings: PostsSettings) -> AsyncIterator:
    app = create_app(settings)
    async with app_state(app).database.transaction() as session:
        await session.execute(
            text(
                "TRUNCATE posts.posts, posts.users, posts.inbox, posts.outbox, posts.idempotency_keys,"
                " posts.count_changes"
            )
        )
    yield app
    await app_state(app).database.dispose()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://posts") as client:
        yield client
