"""The error answers each operation declares in OpenAPI, from one table.

A route declares only the errors of its own business rules
(`responses=error_responses(404)`); `declare_implied_errors` adds those that follow
from a route's shape: 400 for a body, 401 for a caller, 503 for every route. The
gateway adds the answers it gives itself (gateway/openapi.py).
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

ERROR_SCHEMA_NAME = "ErrorResponse"
ERROR_SCHEMA_REF = f"#/components/schemas/{ERROR_SCHEMA_NAME}"
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}}
}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body cannot be parsed (not UTF-8, or not the declared content type)",
    401: "No valid bearer token, or the account was deleted",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "The body is over the gateway's limit",
    429: "Too many requests; try again after `Retry-After`",
    502: "A service sent an invalid answer",
    503: "A service, its database or its broker is unavailable or busy; try again after `Retry-After`",
}
ERROR_HEADERS: dict[int, dict[str, Any]] = {401: WWW_AUTHENTICATE, 429: RETRY_AFTER, 503: RETRY_AFTER}


class ErrorResponse(BaseModel):
    """Every error answer except 422 (FastAPI's list of field errors): `{"detail": "..."}`."""

    detail: str


def error_response_object(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response object of an error status (its schema is `ErrorResponse` in components)."""
    response: dict[str, Any] = {
        "description": description or ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
    }
    if status in ERROR_HEADERS:
        response["headers"] = ERROR_HEADERS[status]
    return response


def error_schemas() -> dict[str, Any]:
    """The components/schemas that error_response_object refers to."""
    return {ERROR_SCHEMA_NAME: ErrorResponse.model_json_schema()}


def error_responses(*statuses: int, descriptions: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` for the errors of its business rules, each with the error body's schema."""
    descriptions = descriptions or {}
    return {
        status: {"model": ErrorResponse, **error_response_object(status, descriptions.get(status))}
        for status in statuses
    }


def declare_implied_errors(app: FastAPI, *, caller_dependency: Callable[..., Any]) -> None:
    """Makes the app's OpenAPI document add, to every documented route, the errors its shape implies:
    503 to all, 400 to those with a body, 401 to those that depend on `caller_dependency`.

    A route's own declaration of the same status wins (it says more precisely why).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {}).update(error_schemas())
        for context in iter_route_contexts(app.router.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in context.methods or ():
                responses = document["paths"][context.path_format][method.lower()]["responses"]
                for status in _implied_errors(route, caller_dependency):
                    responses.setdefault(str(status), error_response_object(status))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _implied_errors(route: APIRoute, caller_dependency: Callable[..., Any]) -> list[int]:
    implied = [503]
    if route.body_field is not None:
        implied.append(400)
    if _depends_on(route.dependant, caller_dependency):
        implied.append(401)
    return implied


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(dependency.call is call or _depends_on(dependency, call) for dependency in dependant.dependencies)
