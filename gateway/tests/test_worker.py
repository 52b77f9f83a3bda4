"""The worker turns `user.deleted` into a row of `gateway.revoked_users`, once per user."""

import asyncio
import os
import signal
import subprocess
import sys

from gateway_events import publish, running_worker, user_deleted, wait_for
from prometheus_client import REGISTRY
from sqlalchemy import select

from gateway.models import inbox, revoked_users
from gateway.settings import GatewaySettings
from tally_shared.db import Database
from tally_testing import AMQP_URL


async def revoked_rows(database: Database) -> list[tuple[int, int]]:
    async with database.transaction() as session:
        return [tuple(row) for row in await session.execute(select(revoked_users.c.user_id, revoked_users.c.seq))]


async def applied_event_ids(database: Database) -> set:
    async with database.transaction() as session:
        return set(await session.scalars(select(inbox.c.event_id)))


async def revoked_user_ids(database: Database) -> list[int]:
    return [user_id for user_id, _ in await revoked_rows(database)]


def duplicates_skipped() -> float:
    return REGISTRY.get_sample_value("events_duplicates_total") or 0.0


async def test_user_deleted_revokes_the_user_once(database: Database, worker_settings: GatewaySettings):
    async with running_worker(worker_settings, database):
        first = user_deleted(42)
        # The same fact in a second event (auth sent it twice): a new event id, the same user.
        again = user_deleted(42)
        other = user_deleted(43)
        duplicates_before = duplicates_skipped()

        await publish(worker_settings, first, first, first, again, other)

        async def all_applied() -> bool:
            return await applied_event_ids(database) == {first.id, again.id, other.id}

        assert await wait_for(all_applied)
        assert await wait_for(lambda: duplicates_skipped() - duplicates_before >= 2)
        rows = await revoked_rows(database)
        assert sorted(user_id for user_id, _ in rows) == [42, 43]
        assert len({seq for _, seq in rows}) == 2


async def test_the_worker_process_revokes_and_stops_on_sigterm(database: Database, worker_settings: GatewaySettings):
    env = {
        **os.environ,
        "TALLY_EVENT_NAMESPACE": worker_settings.event_namespace,
        "TALLY_AMQP_URL": AMQP_URL,
        "GATEWAY_DATABASE_URL": worker_settings.database_url.get_secret_value(),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        await publish(worker_settings, user_deleted(77))

        async def revoked_77() -> bool:
            return await revoked_user_ids(database) == [77]

        assert await wait_for(revoked_77, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = await asyncio.to_thread(process.communicate, timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, output.decode(errors="replace")
    assert b"user 77 revoked" in output
