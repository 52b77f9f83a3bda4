"""The posts service's event consumer process: `python -m posts.worker`."""

import asyncio

from posts.events import HANDLERS
from posts.models import inbox
from posts.settings import PostsSettings
from tally_shared.consumer import EventConsumer
from tally_shared.database import Database
from tally_shared.observability import configure_logging
from tally_shared.process import run_until_signalled


async def consume(stop: asyncio.Event) -> None:
    settings = PostsSettings()
    database = Database(
        settings.database_url.get_secret_value(), application_name="posts-worker", pool_size=2
    )
    try:
        await EventConsumer(database=database, inbox=inbox, settings=settings, handlers=HANDLERS).run(stop)
    finally:
        database.dispose()


def main() -> None:
    configure_logging("posts-worker", PostsSettings().log_level)
    run_until_signalled(consume)


if __name__ == "__main__":
    main()
