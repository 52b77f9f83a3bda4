"""Text PostgreSQL cannot store (a NUL character, a lone surrogate) is a 422 in FastAPI's shape,
never a 500; ordinary text, however unusual, still reaches the real database."""

import pytest

from tally_shared.web import IDENTITY_HEADER, Caller, sign_identity

NUL = "\x00"


@pytest.fixture
def author(settings) -> dict[str, str]:
    """The header the gateway adds for a caller it has verified."""
    caller = Caller(1, "ada@example.com")
    return {IDENTITY_HEADER: sign_identity(caller, settings.internal_secret.get_secret_value())}


async def create_post(client, author, **fields) -> dict:
    response = await client.post(
        "/posts", json={"title": "A title", "content": "Some content", **fields}, headers=author
    )
    assert response.status_code == 201, response.text
    return response.json()


def assert_refuses_nul(response, location: list) -> None:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == location
    assert error["type"] == "string_nul_character"
    assert "NUL" in error["msg"]


@pytest.mark.parametrize("field", ["title", "content"])
@pytest.mark.parametrize("text", [NUL, f"before{NUL}after", f"ends with a NUL{NUL}"])
async def test_a_nul_in_a_new_post_is_422(client, author, field, text):
    body = {"title": "A title", "content": "Some content", field: text}

    response = await client.post("/posts", json=body, headers=author)

    assert_refuses_nul(response, ["body", field])


@pytest.mark.parametrize("field", ["title", "content"])
async def test_a_nul_in_a_replaced_post_is_422_and_the_post_is_unchanged(client, author, field):
    post = await create_post(client, author)
    body = {"title": "A title", "content": "Some content", field: f"new{NUL}text"}

    response = await client.put(f"/posts/{post['id']}", json=body, headers=author)

    assert_refuses_nul(response, ["body", field])
    unchanged = await client.get(f"/posts/{post['id']}", headers=author)
    assert unchanged.json()["Post"] == post


async def test_a_nul_in_the_search_is_422(client, author):
    response = await client.get("/posts", params={"search": f"title{NUL}"}, headers=author)

    assert_refuses_nul(response, ["query", "search"])


async def test_a_search_longer_than_a_title_is_still_422(client, author):
    response = await client.get("/posts", params={"search": "x" * 301}, headers=author)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "string_too_long"


async def test_unusual_but_storable_text_is_stored_and_found(client, author):
    title = "Tabs\tnewlines\n, control \x01\x1f, symbols %_\\, accents é, emoji 🗳️"
    post = await create_post(client, author, title=title, content="\u00a0\x7f\u200b" * 3)

    assert post["title"] == title
    found = await client.get("/posts", params={"search": "control \x01\x1f, symbols %_"}, headers=author)
    assert found.status_code == 200
    assert [item["Post"]["id"] for item in found.json()] == [post["id"]]
    replaced = await client.put(f"/posts/{post['id']}", json={"title": "é", "content": "\x01"}, headers=author)
    assert replaced.status_code == 200
    assert (replaced.json()["title"], replaced.json()["content"]) == ("é", "\x01")


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": "lone \\ud800 surrogate", "content": "c"}',
        b'{"title": "lone surrogate as bytes \xed\xa0\x80", "content": "c"}',
        b'{"title": "t", "content": "c", "published": "\\udfff"}',
    ],
)
async def test_text_utf8_cannot_encode_is_422_with_its_echo_replaced(client, author, body):
    response = await client.post("/posts", content=body, headers={**author, "content-type": "application/json"})

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][0] == "body"
    assert "?" in error["input"]
