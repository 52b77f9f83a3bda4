"""The auth service's HTTP app: `uvicorn --factory auth.app:create_app`."""

from fastapi import FastAPI

from auth.keys import KeyRing
from auth.routes import router
from auth.service import AuthService
from auth.settings import AuthSettings
from tally_shared.http import create_service_app


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    app = create_service_app(settings, title="Tally auth", routers=[router])
    app.state.keyring = KeyRing(settings)
    app.state.auth_service = AuthService(settings, app.state.keyring)
    return app
