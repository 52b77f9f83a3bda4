"""What every Tally HTTP app has: request ids, metrics, health and readiness, the caller."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from tally_shared.database import database_for
from tally_shared.errors import NotAuthenticatedError, OverloadedError, error_response, install_error_handlers
from tally_shared.identity import (
    IDENTITY_HEADER,
    SERVICE_HEADER,
    Caller,
    IdentityError,
    VerifiedIdentities,
    verify_service,
)
from tally_shared.observability import (
    DB_POOL_CHECKED_OUT,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    HTTP_REQUESTS_SHED,
    REQUEST_ID_HEADER,
    clean_request_id,
    configure_logging,
    request_id_var,
)
from tally_shared.openapi import declare_implied_errors
from tally_shared.settings import ServiceSettings, TallySettings
from tally_shared.telemetry import configure_tracing


class RequestContextMiddleware:
    """Sets the request id for logs and events, echoes it, and counts every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = clean_request_id(headers.get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    (name, value) for name, value in message["headers"] if name.lower() != b"x-request-id"
                ] + [(b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route_path, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], route_path).observe(time.perf_counter() - started)
            request_id_var.reset(token)


OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def is_operations_request(scope: Scope) -> bool:
    """Health, readiness and metrics: probes and scrapes, many a minute, never worth a trace."""
    return scope.get("path") in OPERATIONS_PATHS


# FastAPI traces every request itself once a tracer provider is configured (telemetry.py).
TELEMETRY_CONFIG: TelemetryConfig = {"exclude": is_operations_request}


class LoadSheddingMiddleware:
    """At most `limit` requests in flight in this process; the next get 503 with `Retry-After` at once.

    A queue that grows faster than it drains only makes every answer late: a
    client told to come back in a second does better, and the process serves
    normally again the moment the load drops. Health, readiness and metrics are
    never shed, so an orchestrator does not mistake a busy process for a dead one.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_operations_request(scope):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            HTTP_REQUESTS_SHED.inc()
            await error_response(OverloadedError())(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


ReadinessCheck = Callable[[], Awaitable[bool]]


def operations_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    """`/healthz`, `/readyz` and `/metrics`, kept out of the public API document."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(checks[name]() for name in names))
        status = {name: "ok" if ok else "unavailable" for name, ok in zip(names, results, strict=True)}
        ready = all(results)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": status},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def broker_reachable(settings: TallySettings) -> ReadinessCheck:
    """A readiness check that the broker accepts TCP connections.

    The APIs never talk to RabbitMQ themselves (their events go through the
    outbox), so a connection attempt is the honest check, and a cheap one.
    """
    url = URL(settings.amqp_url.get_secret_value())
    host, port = url.host or "127.0.0.1", url.port or 5672

    async def check() -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1)
        except (OSError, TimeoutError, socket.gaierror):
            return False
        writer.close()
        return True

    return check


async def session_dependency(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction; use with `Depends(..., scope="function")` so that it
    commits before the response is sent, and a failed commit is an error, not a lost write."""
    async with request.app.state.database.transaction() as session:
        yield session


async def current_caller(request: Request) -> Caller:
    """The caller the gateway vouched for in `X-Tally-Identity`, or 401."""
    assertion = request.headers.get(IDENTITY_HEADER)
    if not assertion:
        raise NotAuthenticatedError()
    try:
        identities: VerifiedIdentities = request.app.state.identities
        return identities.caller(assertion)
    except IdentityError as error:
        raise NotAuthenticatedError("Could not validate credentials") from error


async def calling_service(request: Request) -> str:
    """For internal routes: the service that signed `X-Tally-Service`, or 401."""
    assertion = request.headers.get(SERVICE_HEADER)
    if not assertion:
        raise NotAuthenticatedError()
    try:
        return verify_service(assertion, request.app.state.settings.internal_secret.get_secret_value())
    except IdentityError as error:
        raise NotAuthenticatedError("Could not validate the calling service") from error


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> FastAPI:
    """A service's FastAPI app: its database on `app.state.database`, ops routes, error handling,
    and at most `max_requests_in_flight` requests at once.

    The route-level parts (routers) are the service's own; everything else is
    the same for every service, so it is written once, here.
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

    app = FastAPI(title=title, lifespan=lifespan, redirect_slashes=False, telemetry=TELEMETRY_CONFIG)
    app.state.settings = settings
    app.state.database = database
    app.state.identities = VerifiedIdentities(settings.internal_secret.get_secret_value())
    app.add_middleware(LoadSheddingMiddleware, limit=settings.max_requests_in_flight)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(operations_router({"database": database.is_reachable, "broker": broker_reachable(settings)}))
    for router in routers:
        app.include_router(router)
    declare_implied_errors(app, caller_dependency=current_caller)
    return app
