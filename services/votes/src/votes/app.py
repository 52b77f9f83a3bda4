"""The votes service's HTTP app: `uvicorn --factory votes.app:create_app`."""

from fastapi import FastAPI

from tally_shared.http import create_service_app
from votes.settings import VotesSettings


def create_app(settings: VotesSettings | None = None) -> FastAPI:
    return create_service_app(settings or VotesSettings(), title="Tally votes")
