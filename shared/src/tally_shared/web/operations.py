"""`/healthz`, `/readyz` and `/metrics`: what an orchestrator probes and a Prometheus scrapes."""

import asyncio
import socket
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from yarl import URL

from tally_shared.settings import TallySettings

OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

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
