"""The gateway's HTTP app: `uvicorn --factory gateway.app:create_app --port 8000`."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.assertions import IdentityAssertions
from gateway.errors import CredentialsUncheckableError, InvalidCredentialsError, TooManyRequestsError
from gateway.jwt import InvalidTokenError, TokenVerifier
from gateway.openapi import MergedOpenAPI
from gateway.proxy import Proxy, read_body, upstream_request_headers
from gateway.ratelimit import RateLimiter
from gateway.revocations import RevocationList, kept_fresh
from gateway.routing import (
    EXACT_ROUTES,
    PREFIX_ROUTES,
    is_public,
    normalize_path,
    service_for,
    upstreams_from,
)
from gateway.security_headers import SecurityHeadersMiddleware, page_policy
from gateway.settings import GatewaySettings
from gateway.upstream import (
    AiohttpUpstreamClient,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeoutError,
)
from tally_shared.db import database_for
from tally_shared.events import asyncapi_document
from tally_shared.internal import Replicas
from tally_shared.telemetry import (
    REQUEST_ID_HEADER,
    configure_logging,
    configure_tracing,
    request_id_var,
    tracing_enabled,
)
from tally_shared.web import (
    CLIENT_ADDRESS_HEADER,
    IDENTITY_HEADER,
    REPLAYED_HEADER,
    TELEMETRY_CONFIG,
    Caller,
    LoadSheddingMiddleware,
    NotFoundError,
    ReadinessCheck,
    RequestContextMiddleware,
    install_error_handlers,
    is_client_identity_header,
    operations_router,
)

logger = logging.getLogger(__name__)

PROXIED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Short, so that /readyz and /openapi.json answer quickly even when a service hangs.
PROBE_TIMEOUT_SECONDS = 2.0
OPENAPI_CACHE_SECONDS = 10.0
UPSTREAM_FAILURES = (UpstreamConnectError, UpstreamTimeoutError, UpstreamError)
# Swagger UI's files, from the pinned fastapi-offline package (see gateway/pyproject.toml):
# the gateway serves them itself, so /docs loads nothing from the internet.
DOCS_PATH = "/docs"
DOCS_OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
DOCS_ASSETS_PATH = "/docs/assets"
SWAGGER_UI_ASSETS_PACKAGE = ("fastapi_offline", "static")


class StripClientIdentityMiddleware:
    """Removes every identity header a client sent, before anything else sees the request.

    Only the gateway may say who is calling, in `X-Tally-Identity`, after it has
    verified the token; whatever a client claims in such headers is dropped.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            scope["headers"] = [
                (name, value)
                for name, value in scope["headers"]
                if not is_client_identity_header(name.decode("latin-1"))
            ]
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class GatewayState:
    """What the gateway's requests use, built by its lifespan: Starlette's `app.state` is an
    untyped bag, so it carries this one object, read through `gateway_state`."""

    revocations: RevocationList
    client: UpstreamClient
    proxy: Proxy
    verifier: TokenVerifier
    openapi: MergedOpenAPI


def gateway_state(app: FastAPI) -> GatewayState:
    state = app.state.gateway
    assert isinstance(state, GatewayState), "the gateway's lifespan has not started"
    return state


def create_app(settings: GatewaySettings | None = None, upstream_client: UpstreamClient | None = None) -> FastAPI:
    """The gateway; `upstream_client` replaces the network to the services (tests pass fakes)."""
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    configure_tracing("tally-gateway")
    upstreams = upstreams_from(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One refresh at a time reads the database: a small pool is plenty.
        database = database_for(settings, "gateway", pool_size=2)
        revocations = RevocationList(database, refresh_seconds=settings.revocation_refresh_seconds)
        # Until this first read succeeds (later, in the background, if the database
        # is down now), every token is refused with 503: a restart forgets nobody.
        try:
            await revocations.refresh()
            client = upstream_client or AiohttpUpstreamClient(
                timeout=settings.upstream_timeout, traced=tracing_enabled()
            )
            async with kept_fresh(revocations), _closing(client):
                app.state.gateway = GatewayState(
                    revocations=revocations,
                    client=client,
                    proxy=Proxy(client, upstreams),
                    verifier=TokenVerifier(
                        lambda: _fetch_jwks(client, upstreams["auth"]),
                        issuer=settings.jwt_issuer,
                        audience=settings.jwt_audience,
                        leeway=settings.clock_skew_seconds,
                        refresh_min_interval=settings.jwks_refresh_min_interval,
                    ),
                    openapi=MergedOpenAPI(
                        list(upstreams),
                        lambda service: _fetch_openapi(client, upstreams[service]),
                        ttl=OPENAPI_CACHE_SECONDS,
                    ),
                )
                yield
        finally:
            await database.dispose()

    # The gateway's own document is the merged one, served below; no redirect
    # from `/posts/` to `/posts` or back, ever: both forms are routes.
    app = FastAPI(
        title="Tally gateway",
        lifespan=lifespan,
        redirect_slashes=False,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=TELEMETRY_CONFIG,
    )
    install_error_handlers(app)
    # Inside CORS, so that a browser can read a shed request's 503 and its Retry-After.
    app.add_middleware(LoadSheddingMiddleware, limit=settings.max_requests_in_flight)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After", "WWW-Authenticate", REPLAYED_HEADER, "Link"],
        )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(StripClientIdentityMiddleware)
    documentation_pages = _documentation_pages()
    # Outermost, so that every answer has them, the gateway's own errors included.
    app.add_middleware(
        SecurityHeadersMiddleware,
        page_policies={path: page_policy(html) for path, html in documentation_pages.items()},
        cacheable_prefix=DOCS_ASSETS_PATH,
        hsts_seconds=settings.hsts_seconds,
    )

    checks: dict[str, ReadinessCheck] = {name: _readiness_check(app, upstream) for name, upstream in upstreams.items()}
    checks["revocations"] = _revocations_fresh(app)
    app.include_router(operations_router(checks))
    _add_documentation_routes(app, settings, documentation_pages)
    _add_proxied_routes(app, settings)
    return app


def _documentation_pages() -> dict[str, str]:
    """The Swagger UI page and its OAuth2 redirect page, built once: their inline scripts never change."""
    swagger_ui = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Tally API",
        oauth2_redirect_url=DOCS_OAUTH2_REDIRECT_PATH,
        swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
    )
    redirect = get_swagger_ui_oauth2_redirect_html()
    return {DOCS_PATH: bytes(swagger_ui.body).decode(), DOCS_OAUTH2_REDIRECT_PATH: bytes(redirect.body).decode()}


def _add_documentation_routes(app: FastAPI, settings: GatewaySettings, pages: dict[str, str]) -> None:
    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await gateway_state(request.app).openapi.document())

    events_document = asyncapi_document(settings.event_namespace)

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> JSONResponse:
        return JSONResponse(events_document)

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(pages[DOCS_PATH])

    @app.get(DOCS_OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def docs_oauth2_redirect() -> HTMLResponse:
        return HTMLResponse(pages[DOCS_OAUTH2_REDIRECT_PATH])

    app.mount(DOCS_ASSETS_PATH, StaticFiles(packages=[SWAGGER_UI_ASSETS_PACKAGE]), name="docs-assets")


def _add_proxied_routes(app: FastAPI, settings: GatewaySettings) -> None:
    assertions = IdentityAssertions(settings.internal_secret.get_secret_value())
    limiter = (
        RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        if settings.rate_limit_per_second
        else None
    )

    async def proxied(request: Request) -> Response:
        # The peer, or the client a trusted proxy names in X-Forwarded-For (uvicorn's FORWARDED_ALLOW_IPS).
        client = request.client.host if request.client else "unknown"
        if limiter is not None:
            retry_after = limiter.retry_after(client)
            if retry_after is not None:
                raise TooManyRequestsError(retry_after)
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        path = normalize_path(raw_path.decode("latin-1"))
        service = service_for(path)
        if service is None or _has_dot_segment(request.scope["path"]):
            raise NotFoundError("Not Found")
        headers = {CLIENT_ADDRESS_HEADER: client}
        request_id = request_id_var.get()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if not is_public(request.method, path):
            caller = await _authenticate(request)
            headers[IDENTITY_HEADER] = assertions.for_caller(caller)
        body = await read_body(request, settings.max_body_bytes)
        return await gateway_state(request.app).proxy.forward(
            service,
            request.method,
            path,
            request.scope.get("query_string", b"").decode("latin-1"),
            body,
            upstream_request_headers(request.headers, headers),
        )

    routes = [path for prefix in PREFIX_ROUTES for path in (prefix, prefix + "/{path:path}")]
    routes += [path for exact in EXACT_ROUTES for path in (exact, exact + "/")]
    for route in routes:
        app.add_api_route(route, proxied, methods=PROXIED_METHODS, include_in_schema=False)


async def _authenticate(request: Request) -> Caller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidCredentialsError()
    state = gateway_state(request.app)
    try:
        caller = await state.verifier.verify(token.strip())
    except InvalidTokenError as error:
        logger.info("rejected a token: %s", error)
        raise InvalidCredentialsError() from error
    revocations = state.revocations
    if not revocations.loaded:
        raise CredentialsUncheckableError()
    if revocations.is_revoked(caller.user_id):
        logger.info("rejected a token of user %d: the account was deleted", caller.user_id)
        raise InvalidCredentialsError()
    return caller


def _has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


@asynccontextmanager
async def _closing(client: UpstreamClient) -> AsyncIterator[UpstreamClient]:
    try:
        yield client
    finally:
        await client.close()


async def _get_json(client: UpstreamClient, url: str) -> dict[str, Any]:
    """The JSON object at `url`, or an UpstreamError (a non-2xx answer is one too), or a ValueError."""
    response = await client.request("GET", url, timeout=PROBE_TIMEOUT_SECONDS)
    if not 200 <= response.status_code < 300:
        raise UpstreamError(f"GET {url}: HTTP {response.status_code}")
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError(f"GET {url}: not a JSON object")
    return document


async def _fetch_jwks(client: UpstreamClient, auth: Replicas) -> dict[str, Any]:
    last_error: Exception | None = None
    for base_url in auth.in_turn():
        try:
            return await _get_json(client, base_url + "/.well-known/jwks.json")
        except (*UPSTREAM_FAILURES, ValueError) as error:
            last_error = error
    raise RuntimeError(f"no auth replica served the JWKS: {last_error!r}")


async def _fetch_openapi(client: UpstreamClient, upstream: Replicas) -> dict[str, Any] | None:
    for base_url in upstream.in_turn():
        try:
            return await _get_json(client, base_url + "/openapi.json")
        except (*UPSTREAM_FAILURES, ValueError) as error:
            logger.info("no OpenAPI document from %s at %s: %r", upstream.service, base_url, error)
    return None


def _revocations_fresh(app: FastAPI) -> ReadinessCheck:
    """Ready while the list of revoked users was read recently (no database call here)."""

    async def check() -> bool:
        return gateway_state(app).revocations.is_fresh()

    return check


def _readiness_check(app: FastAPI, upstream: Replicas) -> ReadinessCheck:
    """Ready when at least one replica of the service says it is (connection failures go to the next one)."""

    async def replica_ready(base_url: str) -> bool:
        try:
            response = await gateway_state(app).client.request(
                "GET", base_url + "/readyz", timeout=PROBE_TIMEOUT_SECONDS
            )
        except UPSTREAM_FAILURES:
            return False
        return response.status_code == 200

    async def check() -> bool:
        return any(await asyncio.gather(*(replica_ready(url) for url in upstream.urls)))

    return check
