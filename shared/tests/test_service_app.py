"""What `create_service_app` gives a service's routes through the typed state: its settings and
its own resources, looked up by type, replaceable in tests, and a clear error for one forgotten."""

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends

from tally_shared.settings import ServiceSettings
from tally_shared.web import app_state, create_service_app, resource


class Greeter:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting


class Unregistered:
    pass


router = APIRouter()


@router.get("/greeting")
async def greeting(greeter: Annotated[Greeter, Depends(resource(Greeter))]) -> dict[str, str]:
    return {"greeting": greeter.greeting}


@router.get("/forgotten")
async def forgotten(thing: Annotated[Unregistered, Depends(resource(Unregistered))]) -> dict[str, str]:
    return {}


def make_app():
    # The database is never reached here: the engine connects on first use.
    settings = ServiceSettings(service_name="greeter", database_url="postgresql://unused@127.0.0.1:1/unused")
    return create_service_app(settings, title="Greeter", routers=[router], resources=[Greeter("hello")])


async def test_a_route_gets_the_resource_of_its_type_and_a_test_can_replace_it():
    app = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://greeter") as client:
        assert (await client.get("/greeting")).json() == {"greeting": "hello"}
        stand_in = Greeter("stand-in")
        app.dependency_overrides[resource(Greeter)] = lambda: stand_in
        assert (await client.get("/greeting")).json() == {"greeting": "stand-in"}
    assert app_state(app).settings.service_name == "greeter"
    assert app_state(app).resource(Greeter).greeting == "hello"


async def test_a_resource_the_app_was_not_given_is_named_in_the_error(capsys):
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://greeter") as client:
        response = await client.get("/forgotten")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    # create_service_app logs to stderr, one record per line.
    assert "create_service_app was given no Unregistered resource" in capsys.readouterr().err
