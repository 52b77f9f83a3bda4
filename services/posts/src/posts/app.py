"""The posts service's HTTP app: `uvicorn --factory posts.app:create_app`."""

from fastapi import FastAPI

from posts.models import idempotency_keys
from posts.routes import internal, router
from posts.settings import PostsSettings
from tally_shared.web import create_service_app


def create_app(settings: PostsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or PostsSettings(),
        title="Tally posts",
        routers=[router, internal],
        idempotency_keys=idempotency_keys,
    )
