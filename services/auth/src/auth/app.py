"""The auth service's HTTP app: `uvicorn --factory auth.app:create_app`."""

from fastapi import FastAPI

from auth.keys import KeyRing
from auth.models import idempotency_keys
from auth.routes import router
from auth.service import AuthService
from auth.settings import AuthSettings
from tally_shared.web import create_service_app


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    keyring = KeyRing(settings)
    return create_service_app(
        settings,
        title="Tally auth",
        routers=[router],
        idempotency_keys=idempotency_keys,
        resources=[keyring, AuthService(settings, keyring)],
    )
