"""What a service's app holds for its requests, typed: Starlette's `app.state` is an untyped bag,
so it carries one `ServiceState`, and routes reach it only through `service_state`."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

from fastapi import FastAPI, Request
from sqlalchemy import Table

from tally_shared.db.database import Database
from tally_shared.settings import ServiceSettings
from tally_shared.web.identity import VerifiedIdentities

Resource = TypeVar("Resource")


@dataclass(frozen=True)
class ServiceState:
    settings: ServiceSettings
    database: Database
    identities: VerifiedIdentities
    # Where `Idempotency-Key` answers are stored; None for a service with no retry-safe writes.
    idempotency_keys: Table | None = None
    # The service's own long-lived objects (a typed client of another service, a key ring),
    # one of each type, looked up by their type.
    resources: Sequence[object] = field(default=())

    def resource(self, kind: type[Resource]) -> Resource:
        """The service's resource of type `kind`; a LookupError names what was forgotten."""
        for candidate in self.resources:
            if isinstance(candidate, kind):
                return candidate
        raise LookupError(f"create_service_app was given no {kind.__name__} resource")


def attach_state(app: FastAPI, state: ServiceState) -> None:
    app.state.tally = state


def app_state(app: FastAPI) -> ServiceState:
    state = app.state.tally
    assert isinstance(state, ServiceState), "the app was not made by create_service_app"
    return state


def service_state(request: Request) -> ServiceState:
    return app_state(request.app)


@cache
def resource(kind: type[Resource]) -> Callable[[Request], Awaitable[Resource]]:
    """A dependency that gives the service's resource of type `kind`:
    `PostsService = Annotated[PostsClient, Depends(resource(PostsClient))]`.

    One dependency per type, so a test can replace it: `app.dependency_overrides[resource(PostsClient)]`.
    """

    # Async, so FastAPI calls it on the event loop instead of sending it to a worker thread.
    async def dependency(request: Request) -> Resource:
        return service_state(request).resource(kind)

    dependency.__name__ = f"{kind.__name__.lower()}_resource"
    return dependency
