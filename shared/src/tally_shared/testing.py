"""Test support: a database of its own for the test run, and a broker namespace per test.

Tests never touch `make run`'s data: they use the `tally_test` database (or
TALLY_TEST_DATABASE) with the same per-service roles and schemas, and
exchange/queue names under a fresh namespace that is deleted afterwards.
Nothing here skips: if PostgreSQL or RabbitMQ is missing, the tests fail.
"""

import os
import uuid
from pathlib import Path

import aio_pika
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from tally_shared import dbsetup
from tally_shared.broker import Topology

TEST_DATABASE = os.environ.get("TALLY_TEST_DATABASE", "tally_test")
AMQP_URL = os.environ.get("TALLY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_HOST = os.environ.get("TALLY_TEST_POSTGRES_HOST", "127.0.0.1:5432")


def database_url_for_tests(service: str) -> str:
    return f"postgresql+psycopg2://tally_{service}:tally_{service}@{POSTGRES_HOST}/{TEST_DATABASE}"


def prepare_service_database(service: str, alembic_ini: Path) -> str:
    """Create the test database, role and schema if missing, migrate it, and return its URL."""
    url = database_url_for_tests(service)
    admin_url = make_url(os.environ.get("TALLY_ADMIN_DATABASE_URL", dbsetup.DEFAULT_ADMIN_URL))
    dbsetup.prepare(admin_url, {service: make_url(url)})
    os.environ[f"{service.upper()}_DATABASE_URL"] = url
    config = Config(str(alembic_ini))
    config.set_main_option("script_location", str(alembic_ini.parent / "migrations"))
    command.upgrade(config, "head")
    return url


def unique_namespace() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


async def delete_namespace(namespace: str, services: list[str]) -> None:
    """Delete the exchanges and queues a test declared under `namespace`."""
    topology = Topology(namespace)
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for service in services:
            await channel.queue_delete(topology.queue(service))
            await channel.queue_delete(topology.dead_letter_queue(service))
        await channel.exchange_delete(topology.events_exchange)
        await channel.exchange_delete(topology.dead_letter_exchange)
