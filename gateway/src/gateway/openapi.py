"""One OpenAPI document for the whole API, merged from the services' own documents."""

import asyncio
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.routing import PUBLIC_ROUTES, normalize_path, service_for
from tally_shared.web import OPERATIONS_PATHS, error_response_object, error_schemas

logger = logging.getLogger(__name__)

SECURITY_SCHEME_NAME = "OAuth2PasswordBearer"
SECURITY_SCHEMES = {
    SECURITY_SCHEME_NAME: {"type": "oauth2", "flows": {"password": {"tokenUrl": "/login", "scopes": {}}}}
}

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
SCHEMA_REF_PREFIX = "#/components/schemas/"
# What the gateway itself answers on every proxied route: its rate limit, and a service that
# is down, times out (503) or answers garbage (502); 413 and 401 depend on the operation.
GATEWAY_ERRORS = (429, 502, 503)

DocumentFetcher = Callable[[str], Awaitable[dict[str, Any] | None]]


def merge_documents(documents: dict[str, dict[str, Any]], *, title: str = "Tally API") -> dict[str, Any]:
    """The services' documents as one, with the gateway's security on every protected operation.

    Only paths the gateway routes to that very service are kept. A schema name
    two services define differently is prefixed with the service's name.
    """
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for service, document in documents.items():
        document = copy.deepcopy(document)
        own_schemas = document.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service.capitalize()}{name}"
            for name, schema in own_schemas.items()
            if name in schemas and schemas[name] != schema
        }
        if renames:
            document = _rename_refs(document, renames)
        schemas.update(document.get("components", {}).get("schemas", {}))
        for path, item in document.get("paths", {}).items():
            if path in OPERATIONS_PATHS or service_for(normalize_path(path)) != service:
                continue
            paths[path] = _declare_gateway_errors(_secure(normalize_path(path), item))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": "Every public route of Tally's services, through the gateway. "
            f"Protected routes need a bearer token from `POST /login` ({_public_summary()} are public).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted({**schemas, **error_schemas()}.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _public_summary() -> str:
    return ", ".join(f"`{method} {path}`" for method, path in sorted(PUBLIC_ROUTES) if method != "HEAD")


def _secure(path: str, item: dict[str, Any]) -> dict[str, Any]:
    for method, operation in item.items():
        if method not in HTTP_METHODS or not isinstance(operation, dict):
            continue
        # The gateway fills in the caller itself; a client cannot send it.
        if "parameters" in operation:
            operation["parameters"] = [
                parameter
                for parameter in operation["parameters"]
                if not (
                    isinstance(parameter, dict)
                    and parameter.get("in") == "header"
                    and str(parameter.get("name", "")).lower().startswith("x-tally-")
                )
            ]
        if (method.upper(), path) in PUBLIC_ROUTES:
            operation.pop("security", None)
        else:
            operation["security"] = [{SECURITY_SCHEME_NAME: []}]
    return item


def _declare_gateway_errors(item: dict[str, Any]) -> dict[str, Any]:
    """Adds the answers the gateway gives itself; a service's own description of a status wins."""
    for method, operation in item.items():
        if method not in HTTP_METHODS or not isinstance(operation, dict):
            continue
        statuses = list(GATEWAY_ERRORS)
        if "requestBody" in operation:
            statuses.append(413)
        if "security" in operation:
            statuses.append(401)
        responses = operation.setdefault("responses", {})
        for status in statuses:
            responses.setdefault(str(status), error_response_object(status))
        operation["responses"] = dict(sorted(responses.items()))
    return item


def _rename_refs(document: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(document)
    for old, new in renames.items():
        text = text.replace(json.dumps(SCHEMA_REF_PREFIX + old), json.dumps(SCHEMA_REF_PREFIX + new))
    renamed: dict[str, Any] = json.loads(text)
    schemas = renamed.get("components", {}).get("schemas", {})
    renamed["components"]["schemas"] = {renames.get(name, name): schema for name, schema in schemas.items()}
    return renamed


class MergedOpenAPI:
    """The merged document, rebuilt from the services at most every `ttl` seconds.

    A service that is down simply has no paths in the document until it is back.
    """

    def __init__(self, services: list[str], fetch: DocumentFetcher, *, ttl: float = 10.0) -> None:
        self._services = services
        self._fetch = fetch
        self._ttl = ttl
        self._document: dict[str, Any] | None = None
        self._built_at = 0.0
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            if self._document is None or time.monotonic() - self._built_at >= self._ttl:
                fetched = await asyncio.gather(*(self._fetch(service) for service in self._services))
                documents = {
                    service: document
                    for service, document in zip(self._services, fetched, strict=True)
                    if isinstance(document, dict)
                }
                self._document = merge_documents(documents)
                self._built_at = time.monotonic()
            return self._document
