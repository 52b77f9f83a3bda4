"""What every Tally HTTP app has: the app factory with its typed state, middleware, operations
routes, the route dependencies (the transaction, the caller, `Idempotency-Key`), the errors and
how they become answers, what inputs are accepted, the identity the gateway asserts, and the
OpenAPI declarations of all of it."""

from tally_shared.web.app import create_service_app
from tally_shared.web.dependencies import (
    INTERNAL_PREFIX,
    CurrentCaller,
    SessionDep,
    calling_service,
    current_caller,
    internal_router,
    session_dependency,
)
from tally_shared.web.errors import (
    AccountDeletedError,
    ConflictError,
    DatabaseUnavailableError,
    DomainError,
    ForbiddenError,
    NotAuthenticatedError,
    NotFoundError,
    OverloadedError,
    ServiceUnavailableError,
    UnavailableError,
    error_response,
    install_error_handlers,
)
from tally_shared.web.idempotency import (
    REPLAYED_HEADER,
    Idempotency,
    IdempotentWrite,
    idempotency_keys_table,
    idempotency_openapi,
)
from tally_shared.web.identity import (
    ASSERTION_LIFETIME_SECONDS,
    CLIENT_ADDRESS_HEADER,
    IDENTITY_HEADER,
    SERVICE_HEADER,
    Caller,
    IdentityError,
    VerifiedIdentities,
    is_client_identity_header,
    sign_identity,
    sign_service,
    verify_service,
)
from tally_shared.web.inputs import NOT_BLANK, IdInBody, IdInPath, RefuseNul, RefuseTextAndBooleans, StorableText
from tally_shared.web.middleware import TELEMETRY_CONFIG, LoadSheddingMiddleware, RequestContextMiddleware
from tally_shared.web.openapi import declare_implied_errors, error_response_object, error_responses, error_schemas
from tally_shared.web.operations import OPERATIONS_PATHS, ReadinessCheck, broker_reachable, operations_router
from tally_shared.web.state import ServiceState, app_state, resource, service_state

__all__ = [
    "ASSERTION_LIFETIME_SECONDS",
    "CLIENT_ADDRESS_HEADER",
    "IDENTITY_HEADER",
    "INTERNAL_PREFIX",
    "NOT_BLANK",
    "OPERATIONS_PATHS",
    "REPLAYED_HEADER",
    "SERVICE_HEADER",
    "TELEMETRY_CONFIG",
    "AccountDeletedError",
    "Caller",
    "ConflictError",
    "CurrentCaller",
    "DatabaseUnavailableError",
    "DomainError",
    "ForbiddenError",
    "IdInBody",
    "IdInPath",
    "Idempotency",
    "IdempotentWrite",
    "IdentityError",
    "LoadSheddingMiddleware",
    "NotAuthenticatedError",
    "NotFoundError",
    "OverloadedError",
    "ReadinessCheck",
    "RefuseNul",
    "RefuseTextAndBooleans",
    "RequestContextMiddleware",
    "ServiceState",
    "ServiceUnavailableError",
    "SessionDep",
    "StorableText",
    "UnavailableError",
    "VerifiedIdentities",
    "app_state",
    "broker_reachable",
    "calling_service",
    "create_service_app",
    "current_caller",
    "declare_implied_errors",
    "error_response",
    "error_response_object",
    "error_responses",
    "error_schemas",
    "idempotency_keys_table",
    "idempotency_openapi",
    "install_error_handlers",
    "internal_router",
    "is_client_identity_header",
    "operations_router",
    "resource",
    "service_state",
    "session_dependency",
    "sign_identity",
    "sign_service",
    "verify_service",
]
