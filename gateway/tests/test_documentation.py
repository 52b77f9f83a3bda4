"""The merged OpenAPI document and the Swagger UI."""

import re

import httpx
from gateway_fakes import FakeServices

from gateway.openapi import merge_documents


def _document(paths: dict, schemas: dict | None = None) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "service", "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas or {}},
    }


def _operation(ref: str | None = None, **extra) -> dict:
    operation = {"responses": {"200": {"description": "OK"}}, **extra}
    if ref:
        operation["responses"]["200"]["content"] = {"application/json": {"schema": {"$ref": ref}}}
    return operation


SERVICE_DOCUMENTS = {
    "auth": _document(
        {
            "/users": {"post": _operation("#/components/schemas/UserOut")},
            "/users/me": {
                "get": _operation(
                    "#/components/schemas/UserOut",
                    security=[{"ServiceScheme": []}],
                    parameters=[{"name": "X-Tally-Identity", "in": "header", "schema": {"type": "string"}}],
                )
            },
            "/login": {"post": _operation()},
            "/.well-known/jwks.json": {"get": _operation()},
            "/healthz": {"get": _operation()},
            "/internal/only": {"get": _operation()},
        },
        {"UserOut": {"type": "object", "properties": {"email": {"type": "string"}}}, "Shared": {"type": "string"}},
    ),
    "posts": _document(
        {
            "/posts": {"get": _operation("#/components/schemas/UserOut"), "post": _operation()},
            "/posts/{id}": {"get": _operation(), "put": _operation(), "delete": _operation()},
            "/readyz": {"get": _operation()},
            "/metrics": {"get": _operation()},
        },
        {"UserOut": {"type": "object", "properties": {"id": {"type": "integer"}}}, "Shared": {"type": "string"}},
    ),
    "votes": _document({"/vote": {"post": _operation()}}),
}


async def test_the_merged_document_has_every_service_and_the_gateway_security(client, services: FakeServices):
    services.documents = SERVICE_DOCUMENTS

    document = (await client.get("/openapi.json")).json()

    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/users",
        "/users/me",
        "/login",
        "/.well-known/jwks.json",
        "/posts",
        "/posts/{id}",
        "/vote",
    }
    assert document["components"]["securitySchemes"] == {
        "OAuth2PasswordBearer": {"type": "oauth2", "flows": {"password": {"tokenUrl": "/login", "scopes": {}}}}
    }
    protected = [
        ("/users/me", "get"),
        ("/posts", "get"),
        ("/posts", "post"),
        ("/posts/{id}", "get"),
        ("/posts/{id}", "put"),
        ("/posts/{id}", "delete"),
        ("/vote", "post"),
    ]
    for path, method in protected:
        assert document["paths"][path][method]["security"] == [{"OAuth2PasswordBearer": []}], (path, method)
    for path, method in [("/users", "post"), ("/login", "post"), ("/.well-known/jwks.json", "get")]:
        assert "security" not in document["paths"][path][method], (path, method)
    assert document["paths"]["/users/me"]["get"]["parameters"] == []


async def test_the_gateway_declares_the_errors_it_answers_itself(client, services: FakeServices):
    services.documents = SERVICE_DOCUMENTS

    document = (await client.get("/openapi.json")).json()

    def statuses(path: str, method: str) -> set[str]:
        return set(document["paths"][path][method]["responses"])

    assert statuses("/posts/{id}", "get") == {"200", "401", "429", "502", "503"}
    assert statuses("/users", "post") == {"200", "429", "502", "503"}  # public: no 401
    too_many = document["paths"]["/posts"]["get"]["responses"]["429"]
    assert too_many["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(too_many["headers"]) == {"Retry-After"}
    assert set(document["paths"]["/users/me"]["get"]["responses"]["401"]["headers"]) == {"WWW-Authenticate"}
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["detail"]


async def test_an_operation_with_a_body_may_be_413(client, services: FakeServices):
    with_body = _document({"/vote": {"post": _operation(requestBody={"content": {"application/json": {}}})}})
    services.documents = {**SERVICE_DOCUMENTS, "votes": with_body}

    document = (await client.get("/openapi.json")).json()

    assert "413" in document["paths"]["/vote"]["post"]["responses"]


async def test_a_schema_name_two_services_define_differently_is_kept_apart(client, services: FakeServices):
    services.documents = SERVICE_DOCUMENTS

    document = (await client.get("/openapi.json")).json()

    schemas = document["components"]["schemas"]
    assert schemas["UserOut"]["properties"] == {"email": {"type": "string"}}
    assert schemas["PostsUserOut"]["properties"] == {"id": {"type": "integer"}}
    assert "PostsShared" not in schemas
    ref = document["paths"]["/posts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PostsUserOut"
    ref = document["paths"]["/users/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/UserOut"


async def test_a_down_service_just_has_no_paths(client, services: FakeServices):
    services.documents = SERVICE_DOCUMENTS
    services.down.add("votes")

    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert "/vote" not in response.json()["paths"]
    assert "/posts" in response.json()["paths"]


async def test_the_document_is_cached(client, services: FakeServices):
    services.documents = SERVICE_DOCUMENTS

    await client.get("/openapi.json")
    await client.get("/openapi.json")

    assert len([request for request in services.requests if request.url.path == "/openapi.json"]) == 3


def test_merging_nothing_gives_an_empty_valid_document():
    document = merge_documents({})

    assert document["paths"] == {}
    assert "OAuth2PasswordBearer" in document["components"]["securitySchemes"]


async def test_the_swagger_ui_uses_the_merged_document_and_logs_in_through_login(client):
    docs = await client.get("/docs")
    redirect = await client.get("/docs/oauth2-redirect")

    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text
    assert "/docs/oauth2-redirect" in docs.text
    assert redirect.status_code == 200
    assert "oauth2" in redirect.text.lower()


async def test_the_swagger_ui_loads_only_assets_the_gateway_serves(client: httpx.AsyncClient):
    docs = await client.get("/docs")

    # No absolute URL anywhere, and every file the page loads is one of the gateway's own:
    # nothing comes from a CDN, so /docs works offline.
    assert "://" not in docs.text
    asset_urls = re.findall(r'(?:src|href)="([^"]*)"', docs.text)
    expected_types = {
        "/docs/assets/swagger-ui-bundle.js": ("text/javascript", "application/javascript"),
        "/docs/assets/swagger-ui.css": ("text/css",),
        "/docs/assets/favicon.png": ("image/png",),
    }
    assert sorted(asset_urls) == sorted(expected_types)
    for url, content_types in expected_types.items():
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in content_types, (url, asset.headers["content-type"])
        assert asset.content, url


async def test_documentation_needs_no_token(client: httpx.AsyncClient, services: FakeServices):
    services.documents = SERVICE_DOCUMENTS

    for path in (
        "/docs",
        "/openapi.json",
        "/asyncapi.json",
        "/docs/oauth2-redirect",
        "/docs/assets/swagger-ui-bundle.js",
    ):
        assert (await client.get(path)).status_code == 200, path


async def test_the_event_document_is_asyncapi_for_the_gateways_namespace(client: httpx.AsyncClient, settings):
    document = (await client.get("/asyncapi.json")).json()

    assert document["asyncapi"] == "3.0.0"
    exchanges = {channel["bindings"]["amqp"]["exchange"]["name"] for channel in document["channels"].values()}
    assert exchanges == {f"{settings.event_namespace}.events"}
    assert document["operations"]["gateway.receiveUserDeleted"]["action"] == "receive"
