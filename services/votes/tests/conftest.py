from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tally_testing import client_of, emptied, prepare_service_database

DATABASE_URL = prepare_service_database("votes", Path(__file__).parents[1] / "alembic.ini")

from tally_shared.internal import PostsClient  # noqa: E402
from tally_shared.web import resource  # noqa: E402
from votes.app import create_app  # noqa: E402  (needs the test database URL set above)
from votes.models import metadata  # noqa: E402
from votes.settings import VotesSettings  # noqa: E402


class FakePostsService:
    """The posts service's internal route, answering from a dict; `None` plays a service that is down."""

    def __init__(self) -> None:
        self.posts: dict[int, dict] | None = {}
        self.asked: list[int] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        post_id = int(request.url.path.rsplit("/", 1)[1])
        self.asked.append(post_id)
        if self.posts is None:
            return httpx.Response(503, json={"detail": "down"})
        if post_id not in self.posts:
            return httpx.Response(404, json={"detail": "Post not found"})
        return httpx.Response(200, json=self.posts[post_id])


@pytest.fixture
def posts_service() -> FakePostsService:
    return FakePostsService()


@pytest.fixture
async def app(posts_service: FakePostsService) -> AsyncIterator:
    settings = VotesSettings(database_url=DATABASE_URL)
    posts_client = PostsClient("http://posts", settings, transport=httpx.MockTransport(posts_service.handle))
    async with emptied(create_app(settings), metadata) as app:
        app.dependency_overrides[resource(PostsClient)] = lambda: posts_client
        yield app
    await posts_client.close()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app, "votes") as client:
        yield client
