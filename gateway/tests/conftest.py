"""Fixtures: a gateway whose services are fakes (see `gateway_fakes`)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from gateway_fakes import AUDIENCE, ISSUER, SECRET, FakeServices, SigningKey, gateway_client

from gateway.settings import GatewaySettings


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey(kid="key-1")


@pytest.fixture
def services(signing_key: SigningKey) -> FakeServices:
    return FakeServices(keys=[signing_key])


@pytest.fixture
def settings() -> GatewaySettings:
    return GatewaySettings(
        internal_secret=SECRET,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        auth_url="http://auth.internal:8001",
        posts_url="http://posts.internal:8002",
        votes_url="http://votes.internal:8003",
        cors_origins=["https://app.example"],
        max_body_bytes=1024,
    )


@pytest.fixture
async def client(settings: GatewaySettings, services: FakeServices) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(settings, services.handle) as client:
        yield client


@pytest.fixture
def bearer(signing_key: SigningKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {signing_key.token()}"}
