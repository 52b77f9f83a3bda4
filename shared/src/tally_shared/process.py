"""How a service's long-running processes (relays, workers, reconciliation) start and stop."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from tally_shared.db.database import Database, database_for
from tally_shared.settings import ServiceSettings
from tally_shared.telemetry.logs import configure_logging
from tally_shared.telemetry.tracing import configure_tracing

logger = logging.getLogger(__name__)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)`; SIGTERM or SIGINT sets `stop`, and `main` finishes its work and returns."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _request_stop, stop, signum)
        await main(stop)

    asyncio.run(runner())


def run_service_process(
    settings: ServiceSettings,
    role: str,
    body: Callable[[Database, asyncio.Event], Awaitable[None]],
    *,
    pool_size: int = 2,
) -> None:
    """The whole of a service's `<service>-<role>` process: logs and traces under that name, a
    database pool of `pool_size` for `body(database, stop)` until SIGTERM, closed after it."""
    process_name = f"{settings.service_name}-{role}"
    configure_logging(process_name, settings.log_level, settings.log_format)
    configure_tracing(f"tally-{process_name}")

    async def main(stop: asyncio.Event) -> None:
        database = database_for(settings, process_name, pool_size=pool_size)
        try:
            await body(database, stop)
        finally:
            await database.dispose()

    run_until_signalled(main)


def _request_stop(stop: asyncio.Event, signum: int) -> None:
    logger.info("received %s, shutting down gracefully", signal.Signals(signum).name)
    stop.set()
