"""The votes service's HTTP app: `uvicorn --factory votes.app:create_app`."""

from fastapi import FastAPI

from tally_shared.http import create_service_app
from tally_shared.internal_client import InternalClient
from votes.routes import internal_router, router
from votes.settings import VotesSettings


def create_app(settings: VotesSettings | None = None) -> FastAPI:
    settings = settings or VotesSettings()
    posts_service = InternalClient(settings.posts_url, settings)
    app = create_service_app(
        settings, title="Tally votes", routers=[router, internal_router], on_shutdown=[posts_service.close]
    )
    app.state.posts_service = posts_service
    return app
