"""`Idempotency-Key` on the posts service's writes, against the real database: one effect per
key and caller, the first answer replayed, a reused key refused, expired keys purged."""

import asyncio

from sqlalchemy import func, select, text, update

from posts.models import idempotency_keys, outbox, posts
from tally_shared.db import purge_expired
from tally_shared.web import IDENTITY_HEADER, Caller, app_state, sign_identity

POST = {"title": "A title", "content": "Some content"}


def as_user(settings, user_id: int, key: str | None = None) -> dict[str, str]:
    secret = settings.internal_secret.get_secret_value()
    headers = {IDENTITY_HEADER: sign_identity(Caller(user_id, f"u{user_id}@x.io"), secret)}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


async def count(app, statement) -> int:
    async with app_state(app).database.transaction() as session:
        return (await session.execute(statement)).scalar_one()


async def post_count(app) -> int:
    return await count(app, select(func.count()).select_from(posts))


async def test_a_repeat_replays_the_first_answer_and_creates_nothing(client, app, settings):
    first = await client.post("/posts", json=POST, headers=as_user(settings, 1, "k-1"))
    again = await client.post("/posts", json=POST, headers=as_user(settings, 1, "k-1"))

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await post_count(app) == 1
    assert await count(app, select(func.count()).select_from(outbox)) == 1


async def test_without_a_key_every_request_is_a_new_write(client, app, settings):
    for _ in range(2):
        response = await client.post("/posts", json=POST, headers=as_user(settings, 1))
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers
    assert await post_count(app) == 2


async def test_the_same_key_with_another_body_is_422(client, app, settings):
    await client.post("/posts", json=POST, headers=as_user(settings, 1, "k-1"))

    response = await client.post("/posts", json={**POST, "title": "Another"}, headers=as_user(settings, 1, "k-1"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "idempotency_key_reused"
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await post_count(app) == 1


async def test_the_same_key_on_another_path_is_422(client, app, settings):
    created = (await client.post("/posts", json=POST, headers=as_user(settings, 1, "k-1"))).json()

    response = await client.put(f"/posts/{created['id']}", json=POST, headers=as_user(settings, 1, "k-1"))

    assert response.status_code == 422


async def test_keys_are_scoped_to_the_caller(client, app, settings):
    ada = await client.post("/posts", json=POST, headers=as_user(settings, 1, "shared"))
    bob = await client.post("/posts", json=POST, headers=as_user(settings, 2, "shared"))

    assert ada.status_code == bob.status_code == 201
    assert ada.json()["owner_id"] == 1 and bob.json()["owner_id"] == 2
    assert "idempotent-replayed" not in bob.headers
    assert await post_count(app) == 2


async def test_a_refused_write_stores_nothing_and_its_retry_runs_again(client, app, settings):
    created = (await client.post("/posts", json=POST, headers=as_user(settings, 1))).json()

    refused = await client.delete(f"/posts/{created['id']}", headers=as_user(settings, 2, "del"))
    assert refused.status_code == 403
    assert await count(app, select(func.count()).select_from(idempotency_keys)) == 0

    deleted = await client.delete(f"/posts/{created['id']}", headers=as_user(settings, 1, "del"))
    replayed = await client.delete(f"/posts/{created['id']}", headers=as_user(settings, 1, "del"))
    assert deleted.status_code == replayed.status_code == 204
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.content == b""


async def test_a_repeat_while_the_first_holds_the_key_is_409_with_retry_after(client, app, settings):
    headers = as_user(settings, 1, "busy")
    async with app_state(app).database.transaction() as session:
        # What the first request's transaction holds until it commits.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
            {"name": "posts.idempotency_keys.1.busy"},
        )
        response = await client.post("/posts", json=POST, headers=headers)

    assert response.status_code == 409
    assert response.headers["retry-after"] == "1"
    assert await post_count(app) == 0
    assert (await client.post("/posts", json=POST, headers=headers)).status_code == 201


async def test_concurrent_repeats_make_one_post(client, app, settings):
    headers = as_user(settings, 1, "burst")

    answers = await asyncio.gather(*(client.post("/posts", json=POST, headers=headers) for _ in range(20)))

    created = [answer for answer in answers if answer.status_code == 201]
    assert {answer.status_code for answer in answers} <= {201, 409}
    assert len({answer.content for answer in created}) == 1
    assert await post_count(app) == 1


async def test_an_expired_key_is_a_new_key_and_is_purged(client, app, settings):
    first = await client.post("/posts", json=POST, headers=as_user(settings, 1, "old"))
    async with app_state(app).database.transaction() as session:
        await session.execute(update(idempotency_keys).values(expires_at=func.now() - text("interval '1 second'")))

    again = await client.post("/posts", json=POST, headers=as_user(settings, 1, "old"))
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]

    async with app_state(app).database.transaction() as session:
        await session.execute(update(idempotency_keys).values(expires_at=func.now() - text("interval '1 second'")))
    assert await purge_expired(app_state(app).database, idempotency_keys, batch_size=1) == 1
    assert await count(app, select(func.count()).select_from(idempotency_keys)) == 0


async def test_a_malformed_key_is_422(client, settings):
    response = await client.post("/posts", json=POST, headers=as_user(settings, 1, "x" * 256))
    assert response.status_code == 422


async def test_the_openapi_document_declares_the_key_and_its_answers(client):
    operation = (await client.get("/openapi.json")).json()["paths"]["/posts"]["post"]

    assert any(parameter["name"] == "Idempotency-Key" for parameter in operation["parameters"])
    assert {"201", "409", "422"} <= set(operation["responses"])
    assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
    assert "HTTPValidationError" in str(operation["responses"]["422"])
