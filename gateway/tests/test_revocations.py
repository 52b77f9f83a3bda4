"""A deleted user's still-valid tokens are refused, across restarts, on the real PostgreSQL."""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from gateway_events import publish, running_worker, user_deleted
from gateway_fakes import FakeServices, SigningKey, gateway_client
from pydantic import SecretStr
from sqlalchemy import insert, text

from gateway.models import revoked_users
from gateway.revocations import GAP_RECHECK_SECONDS, MAX_GAPS, RevocationList
from gateway.settings import GatewaySettings
from tally_shared.db import Database, DatabaseLimits
from tally_testing import TcpProxy

REVOKED, OTHER = 7, 8
# Generous: these waits end as soon as the condition holds, and only bound a failure.
WAIT_SECONDS = 10.0


async def revoke(database: Database, user_id: int) -> None:
    async with database.transaction() as session:
        await session.execute(insert(revoked_users).values(user_id=user_id))


def bearer(signing_key: SigningKey, user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {signing_key.token(user_id=user_id, email=f'user{user_id}@example.com')}"}


async def poll(client: httpx.AsyncClient, path: str, headers: dict[str, str], until_status: int) -> httpx.Response:
    """GET `path` until it answers `until_status`, for at most WAIT_SECONDS; the last response."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        response = await client.get(path, headers=headers)
        if response.status_code == until_status or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.02)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Could not validate credentials"}


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def warnings(self) -> list[str]:
        return [record.getMessage() for record in self.records if record.levelno == logging.WARNING]


@pytest.fixture
def revocation_log() -> Iterator[ListHandler]:
    """What `gateway.revocations` logs (the gateway reconfigures the root logger, so caplog cannot see it)."""
    handler = ListHandler()
    logger = logging.getLogger("gateway.revocations")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
async def database_proxy(settings: GatewaySettings) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(settings.database_url.get_secret_value())
    await proxy.open()
    yield proxy
    await proxy.close()


def through(proxy: TcpProxy, settings: GatewaySettings) -> GatewaySettings:
    """The same gateway, reaching PostgreSQL only through `proxy`."""
    return settings.model_copy(update={"database_url": SecretStr(proxy.url)})


async def test_a_revoked_users_token_is_refused_and_anothers_passes(
    database: Database, settings: GatewaySettings, services: FakeServices, signing_key: SigningKey
):
    await revoke(database, REVOKED)

    async with gateway_client(settings, services.handle) as client:
        refused = await client.get("/posts", headers=bearer(signing_key, REVOKED))
        passed = await client.get("/posts", headers=bearer(signing_key, OTHER))

    assert_refused(refused)
    assert passed.status_code == 200
    assert len(services.service_requests("posts")) == 1


async def test_a_revocation_takes_effect_while_running_and_survives_a_restart(
    database: Database, settings: GatewaySettings, services: FakeServices, signing_key: SigningKey
):
    async with gateway_client(settings, services.handle) as client:
        assert (await client.get("/posts", headers=bearer(signing_key, REVOKED))).status_code == 200

        await revoke(database, REVOKED)

        assert_refused(await poll(client, "/posts", bearer(signing_key, REVOKED), until_status=401))
        assert (await client.get("/posts", headers=bearer(signing_key, OTHER))).status_code == 200

    # A new gateway (a restart, or another replica) refuses the token from its first request.
    async with gateway_client(settings, services.handle) as restarted:
        assert_refused(await restarted.get("/posts", headers=bearer(signing_key, REVOKED)))
        assert (await restarted.get("/posts", headers=bearer(signing_key, OTHER))).status_code == 200


async def test_user_deleted_through_the_worker_closes_the_gateway_to_that_user(
    database: Database, worker_settings: GatewaySettings, services: FakeServices, signing_key: SigningKey
):
    async with running_worker(worker_settings, database), gateway_client(worker_settings, services.handle) as client:
        assert (await client.get("/users/me", headers=bearer(signing_key, REVOKED))).status_code == 200

        await publish(worker_settings, user_deleted(REVOKED))

        assert_refused(await poll(client, "/users/me", bearer(signing_key, REVOKED), until_status=401))
        assert (await client.get("/users/me", headers=bearer(signing_key, OTHER))).status_code == 200


async def test_a_revocation_committed_after_a_later_one_was_read_is_still_seen(
    database: Database, settings: GatewaySettings, services: FakeServices, signing_key: SigningKey
):
    """`seq` is taken at insert, not at commit: the gateway reads the higher `seq` first."""
    async with gateway_client(settings, services.handle) as client:
        async with database.transaction() as slow:
            await slow.execute(insert(revoked_users).values(user_id=REVOKED))  # the lower seq, not yet committed
            await revoke(database, OTHER)  # the higher seq, committed
            assert_refused(await poll(client, "/posts", bearer(signing_key, OTHER), until_status=401))
        # `slow` commits here, at the end of its block.

        assert_refused(await poll(client, "/posts", bearer(signing_key, REVOKED), until_status=401))


async def test_revocations_written_by_many_writers_at_once_are_all_seen(
    settings: GatewaySettings, services: FakeServices, signing_key: SigningKey
):
    """Concurrent inserts commit out of `seq` order; a gateway that already read a higher
    `seq` must still see the lower one committed after it."""
    writers = Database(
        settings.database_url.get_secret_value(),
        application_name="gateway-tests-writers",
        # 200 writers share 8 connections: each may wait for one longer than a service would.
        limits=DatabaseLimits(pool_size=8, pool_timeout_seconds=30),
    )
    user_ids = list(range(1000, 1200))
    try:
        async with gateway_client(settings, services.handle) as client:
            await asyncio.gather(*(revoke(writers, user_id) for user_id in user_ids))

            for user_id in user_ids:
                assert_refused(await poll(client, "/posts", bearer(signing_key, user_id), until_status=401))
            assert (await client.get("/posts", headers=bearer(signing_key, OTHER))).status_code == 200
    finally:
        await writers.dispose()


async def test_a_database_outage_keeps_the_known_revocations_and_warns_once(
    database: Database,
    settings: GatewaySettings,
    services: FakeServices,
    signing_key: SigningKey,
    database_proxy: TcpProxy,
    revocation_log: ListHandler,
):
    await revoke(database, REVOKED)
    async with gateway_client(through(database_proxy, settings), services.handle) as client:
        assert (await client.get("/readyz")).json()["checks"]["revocations"] == "ok"

        await database_proxy.close()

        # Stale after 20 failed refreshes, and warned about once, not 20 times.
        not_ready = await poll(client, "/readyz", {}, until_status=503)
        assert not_ready.json()["checks"]["revocations"] == "unavailable"
        assert len(revocation_log.warnings()) == 1
        assert "cannot read the revoked users" in revocation_log.warnings()[0]
        assert_refused(await client.get("/posts", headers=bearer(signing_key, REVOKED)))
        assert (await client.get("/posts", headers=bearer(signing_key, OTHER))).status_code == 200

        await revoke(database, OTHER)  # while this gateway cannot see it
        await database_proxy.open()

        assert (await poll(client, "/readyz", {}, until_status=200)).json()["checks"]["revocations"] == "ok"
        assert_refused(await poll(client, "/posts", bearer(signing_key, OTHER), until_status=401))
        assert len(revocation_log.warnings()) == 1


async def test_a_gateway_started_without_its_database_refuses_every_token_until_it_has_read_the_list(
    database: Database,
    settings: GatewaySettings,
    services: FakeServices,
    signing_key: SigningKey,
    database_proxy: TcpProxy,
):
    await revoke(database, REVOKED)
    await database_proxy.close()

    async with gateway_client(through(database_proxy, settings), services.handle) as client:
        uncheckable = await client.get("/posts", headers=bearer(signing_key, OTHER))
        assert uncheckable.status_code == 503
        assert uncheckable.headers["retry-after"] == "1"
        assert uncheckable.json() == {"detail": "Credentials cannot be checked right now; try again shortly"}
        assert services.service_requests("posts") == []
        assert (await client.post("/login")).status_code == 200  # public routes need no list
        readiness = await client.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["revocations"] == "unavailable"

        await database_proxy.open()

        assert (await poll(client, "/posts", bearer(signing_key, OTHER), until_status=200)).status_code == 200
        assert_refused(await client.get("/posts", headers=bearer(signing_key, REVOKED)))


async def test_a_skipped_seq_is_read_again_until_it_shows_up_or_for_a_bounded_time(database: Database):
    now = [1000.0]
    revocations = RevocationList(database, refresh_seconds=0.1, clock=lambda: now[0])
    await revoke(database, 1)
    async with database.transaction() as rolled_back:
        await rolled_back.execute(insert(revoked_users).values(user_id=2))  # takes a seq, then never commits
        await rolled_back.rollback()
    await revoke(database, 3)
    async with database.transaction() as in_flight:
        await in_flight.execute(insert(revoked_users).values(user_id=4))
        await revoke(database, 5)

        assert await revocations.refresh()
        assert [user_id for user_id in range(1, 6) if revocations.is_revoked(user_id)] == [1, 3, 5]
        skipped_rolled_back, skipped_in_flight = revocations.rechecked_seqs
    # `in_flight` commits here, at the end of its block.
    now[0] += 1
    assert await revocations.refresh()
    assert revocations.is_revoked(4)
    assert revocations.rechecked_seqs == [skipped_rolled_back]

    now[0] += GAP_RECHECK_SECONDS
    assert await revocations.refresh()
    assert revocations.rechecked_seqs == []
    assert [user_id for user_id in range(1, 6) if revocations.is_revoked(user_id)] == [1, 3, 4, 5]


async def test_the_skipped_seqs_read_again_are_bounded(database: Database):
    revocations = RevocationList(database, refresh_seconds=0.1)
    async with database.transaction() as session:
        # A long run of seqs taken and never committed, as after many rolled-back batches.
        await session.execute(
            text(f"SELECT setval(pg_get_serial_sequence('gateway.revoked_users', 'seq'), {10 * MAX_GAPS})")
        )
    await revoke(database, 1)

    assert await revocations.refresh()

    assert revocations.is_revoked(1)
    assert len(revocations.rechecked_seqs) <= MAX_GAPS
