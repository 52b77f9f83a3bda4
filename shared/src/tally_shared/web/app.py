"""The app factory of every Tally service: one call gives the same middleware, operations routes,
error handling and typed state to each, so a service's `app.py` names only what is its own."""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Table

from tally_shared.db.database import database_for
from tally_shared.settings import ServiceSettings
from tally_shared.telemetry.logs import configure_logging
from tally_shared.telemetry.metrics import DB_POOL_CHECKED_OUT
from tally_shared.telemetry.tracing import configure_tracing
from tally_shared.web.dependencies import current_caller
from tally_shared.web.errors import install_error_handlers
from tally_shared.web.identity import VerifiedIdentities
from tally_shared.web.inputs import refuse_repeated_query_parameters
from tally_shared.web.middleware import TELEMETRY_CONFIG, LoadSheddingMiddleware, RequestContextMiddleware
from tally_shared.web.openapi import declare_implied_errors
from tally_shared.web.operations import broker_reachable, operations_router
from tally_shared.web.state import ServiceState, attach_state


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    idempotency_keys: Table | None = None,
    resources: Sequence[object] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> FastAPI:
    """A service's FastAPI app: its database, ops routes, error handling, and at most
    `max_requests_in_flight` requests at once.

    Its routes reach the database, the settings, `idempotency_keys` (the table of its
    `Idempotency-Key` answers) and `resources` (its own long-lived objects, by type)
    through the dependencies of `tally_shared.web`; `on_shutdown` closes what needs it.
    """
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    configure_tracing(f"tally-{settings.service_name}-api")
    database = database_for(settings, settings.service_name)
    DB_POOL_CHECKED_OUT.set_function(database.connections_checked_out)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for close in on_shutdown:
            await close()
        await database.dispose()

    app = FastAPI(
        title=title,
        lifespan=lifespan,
        redirect_slashes=False,
        telemetry=TELEMETRY_CONFIG,
        dependencies=[Depends(refuse_repeated_query_parameters)],
    )
    attach_state(
        app,
        ServiceState(
            settings=settings,
            database=database,
            identities=VerifiedIdentities(settings.internal_secret.get_secret_value()),
            idempotency_keys=idempotency_keys,
            resources=tuple(resources),
        ),
    )
    app.add_middleware(LoadSheddingMiddleware, limit=settings.max_requests_in_flight)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(operations_router({"database": database.is_reachable, "broker": broker_reachable(settings)}))
    for router in routers:
        app.include_router(router)
    declare_implied_errors(app, caller_dependency=current_caller)
    return app
