"""The auth service's outbox relay process: `python -m auth.relay`."""

import asyncio

from auth.models import outbox
from auth.settings import AuthSettings
from tally_shared.database import Database
from tally_shared.observability import configure_logging
from tally_shared.process import run_until_signalled
from tally_shared.relay import OutboxRelay


async def relay(stop: asyncio.Event) -> None:
    settings = AuthSettings()
    database = Database(settings.database_url.get_secret_value(), application_name="auth-relay", pool_size=2)
    try:
        await OutboxRelay(database=database, outbox=outbox, settings=settings).run(stop)
    finally:
        database.dispose()


def main() -> None:
    configure_logging("auth-relay", AuthSettings().log_level)
    run_until_signalled(relay)


if __name__ == "__main__":
    main()
