"""The posts service answers as its OpenAPI document says: declared errors, Allow on 405,
and bodies refused exactly when the schema refuses them."""

import pytest

from tally_shared.web import IDENTITY_HEADER, Caller, sign_identity


@pytest.fixture
def author(settings) -> dict[str, str]:
    return {IDENTITY_HEADER: sign_identity(Caller(1, "ada@example.com"), settings.internal_secret.get_secret_value())}


async def test_every_route_declares_its_errors_with_the_error_body(client):
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]

    # 409: a request with the same Idempotency-Key is still in flight.
    assert set(paths["/posts/{id}"]["put"]["responses"]) == {"200", "400", "401", "403", "404", "409", "422", "503"}
    assert set(paths["/posts/{id}"]["get"]["responses"]) == {"200", "401", "404", "422", "503"}
    assert set(paths["/posts"]["post"]["responses"]) == {"201", "400", "401", "409", "422", "503"}
    not_found = paths["/posts/{id}"]["delete"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "Retry-After" in paths["/posts"]["get"]["responses"]["503"]["headers"]
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/posts/1", "DELETE, GET, PUT"),
        ("OPTIONS", "/posts/1", "DELETE, GET, PUT"),
        ("PUT", "/posts", "GET, POST"),
    ],
)
async def test_a_405_names_every_method_of_the_path(client, author, method, path, allow):
    response = await client.request(method, path, headers=author)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_a_body_that_is_not_utf8_is_the_declared_400(client, author):
    response = await client.post("/posts", content=b"\xff", headers={**author, "content-type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize("published", [0, 1, "true", "yes", None])
async def test_published_is_a_json_boolean_and_nothing_else(client, author, published):
    response = await client.post("/posts", json={"title": "t", "content": "c", "published": published}, headers=author)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "published"]
