"""The ASGI middleware every Tally HTTP app runs: request ids and metrics, and load shedding."""

import time

from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally_shared.telemetry.logs import REQUEST_ID_HEADER, clean_request_id, request_id_var
from tally_shared.telemetry.metrics import HTTP_LATENCY, HTTP_REQUESTS, HTTP_REQUESTS_SHED
from tally_shared.web.errors import OverloadedError, error_response
from tally_shared.web.operations import OPERATIONS_PATHS


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
