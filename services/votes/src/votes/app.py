"""The votes service's HTTP app: `uvicorn --factory votes.app:create_app`."""

from fastapi import FastAPI

from tally_shared.internal import PostsClient
from tally_shared.web import create_service_app
from votes.models import idempotency_keys
from votes.routes import internal, router
from votes.settings import VotesSettings


def create_app(settings: VotesSettings | None = None) -> FastAPI:
    settings = settings or VotesSettings()
    posts = PostsClient(settings.posts_url, settings)
    return create_service_app(
        settings,
        title="Tally votes",
        routers=[router, internal],
        idempotency_keys=idempotency_keys,
        resources=[posts],
        on_shutdown=[posts.close],
    )
