"""Fixtures: a gateway whose services are fakes (see `gateway_fakes`), on the real
PostgreSQL (its `gateway` schema in the test database) and RabbitMQ."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from gateway_events import declare_gateway_queue
from gateway_fakes import AUDIENCE, ISSUER, SECRET, FakeServices, SigningKey, gateway_client
from sqlalchemy import text

from gateway.settings import GatewaySettings
from tally_shared.db import Database, DatabaseLimits
from tally_testing import delete_namespace, prepare_service_database, unique_namespace

DATABASE_URL = prepare_service_database("gateway", Path(__file__).parents[1] / "alembic.ini")


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    """A `Database` of the test's own: its asyncpg connections belong to the test's event loop."""
    database = Database(DATABASE_URL, application_name="gateway-tests", limits=DatabaseLimits(pool_size=2))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(autouse=True)
async def no_revocations(database: Database) -> AsyncIterator[None]:
    """Every test starts with nobody revoked and no event applied, and leaves it so: the
    end-to-end suite shares the test database, and its users' ids are small numbers too."""

    async def forget_revocations() -> None:
        async with database.transaction() as session:
            await session.execute(text("TRUNCATE gateway.revoked_users, gateway.inbox RESTART IDENTITY"))

    await forget_revocations()
    yield
    await forget_revocations()


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
        database_url=DATABASE_URL,
        revocation_refresh_seconds=0.1,
    )


@pytest.fixture
async def client(settings: GatewaySettings, services: FakeServices) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(settings, services.handle) as client:
        yield client


@pytest.fixture
def bearer(signing_key: SigningKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {signing_key.token()}"}


@pytest.fixture
async def worker_settings(settings: GatewaySettings) -> AsyncIterator[GatewaySettings]:
    """The settings with a broker namespace of the test's own, its gateway queue declared."""
    worker_settings = settings.model_copy(update={"event_namespace": unique_namespace()})
    await declare_gateway_queue(worker_settings)
    yield worker_settings
    await delete_namespace(worker_settings.event_namespace, ["gateway"])
