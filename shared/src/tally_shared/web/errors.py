"""Domain errors, turned into HTTP once, at the edge of each service."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tally_shared.db.database import is_transient

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule said no. Subclasses set the HTTP status and the client-facing detail."""

    status_code = 400
    detail = "Bad request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail is not None:
            self.detail = detail


class NotFoundError(DomainError):
    status_code = 404
    detail = "Not found"


class ConflictError(DomainError):
    status_code = 409
    detail = "Conflict"


class ForbiddenError(DomainError):
    status_code = 403
    detail = "Forbidden"


class NotAuthenticatedError(DomainError):
    status_code = 401
    detail = "Not authenticated"
    headers = {"WWW-Authenticate": "Bearer"}


class AccountDeletedError(NotAuthenticatedError):
    """The caller's account was deleted; their token is still valid until the gateway hears of it."""

    detail = "This account has been deleted"


class UnavailableError(DomainError):
    status_code = 503
    detail = "Service temporarily unavailable, try again"
    headers = {"Retry-After": "1"}


class OverloadedError(UnavailableError):
    detail = "The service is busy, try again"


class DatabaseUnavailableError(UnavailableError):
    detail = "The database is unavailable or busy, try again"


class ServiceUnavailableError(UnavailableError):
    """Another Tally service did not answer, or answered with an error of its own; `reason`
    (what went wrong, for the logs) is in `str(error)` but never in the answer to a client."""

    def __init__(self, service: str, reason: str | None = None) -> None:
        super().__init__(f"The {service} service is unavailable")
        self.service = service
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.detail}: {self.reason}" if self.reason else self.detail


def error_response(error: DomainError) -> JSONResponse:
    return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)


class ValidationErrorResponse(JSONResponse):
    """FastAPI's 422, whose errors echo the input, rendered even when UTF-8 cannot encode that input.

    A JSON body can carry a lone surrogate, spelled `"\\ud800"` or as the bytes ED A0 80 (which
    the JSON decoder lets through); validation refuses it, and Starlette's JSONResponse would then
    fail to encode the echo, turning the 422 into a 500. Here each such character becomes a "?".
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
            "utf-8", errors="replace"
        )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return ValidationErrorResponse({"detail": jsonable_encoder(error.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 405:
            # Starlette's Allow names the methods of the first route whose path matched, but a
            # path usually has one route per method; RFC 9110 wants all of them.
            error.headers = {**(error.headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return await http_exception_handler(request, error)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, error: DomainError) -> JSONResponse:
        return error_response(error)

    # Registered by type, not as the catch-all below: Starlette re-raises what the catch-all
    # handled, and an outage is not a bug to report as "Exception in ASGI application".
    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(OSError)
    @app.exception_handler(TimeoutError)
    async def _infrastructure_error(request: Request, error: Exception) -> JSONResponse:
        if not is_transient(error):
            logger.error("database error on %s %s", request.method, request.url.path, exc_info=error)
            return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
        logger.warning("503 on %s %s: %s", request.method, request.url.path, _first_line(error))
        return error_response(DatabaseUnavailableError())

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


def _allowed_methods(request: Request) -> list[str]:
    """The methods of every route of the app that matches the request's path (included routers too)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
