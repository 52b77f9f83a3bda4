"""The posts service's HTTP app: `uvicorn --factory posts.app:create_app`."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from posts.settings import PostsSettings
from tally_shared.database import Database
from tally_shared.errors import install_error_handlers
from tally_shared.http import RequestContextMiddleware, broker_reachable, operations_router
from tally_shared.observability import configure_logging


def create_app(settings: PostsSettings | None = None) -> FastAPI:
    settings = settings or PostsSettings()
    configure_logging("posts", settings.log_level)
    database = Database(
        settings.database_url.get_secret_value(),
        application_name="posts",
        pool_size=settings.database_pool_size,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        database.dispose()

    async def database_reachable() -> bool:
        return await asyncio.to_thread(database.is_reachable)

    app = FastAPI(title="Tally posts", lifespan=lifespan)
    app.state.settings = settings
    app.state.database = database
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(
        operations_router({"database": database_reachable, "broker": broker_reachable(settings)})
    )
    return app
