"""Entry point helper for the long-running event processes (relays and workers)."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

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


def _request_stop(stop: asyncio.Event, signum: int) -> None:
    logger.info("received %s, shutting down gracefully", signal.Signals(signum).name)
    stop.set()
