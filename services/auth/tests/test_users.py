import asyncio
import re
from datetime import datetime

import pytest
from sqlalchemy import text

from tally_shared.web import Caller, app_state, sign_identity

from .conftest import as_caller, register


async def test_register_answers_the_user_and_writes_its_event_with_it(client, app):
    user = await register(client)
    assert set(user) == {"id", "email", "created_at"}
    assert user["email"] == "ada@example.com"
    assert datetime.fromisoformat(user["created_at"]).utcoffset() is not None
    async with app_state(app).database.transaction() as session:
        [row] = (await session.execute(text("SELECT event_type, envelope, published_at FROM auth.outbox"))).all()
    assert row.event_type == "user.registered"
    assert row.published_at is None
    assert row.envelope["data"]["user_id"] == user["id"]
    assert row.envelope["data"]["email"] == user["email"]
    assert row.envelope["producer"] == "auth"


async def test_an_email_is_taken_whatever_its_case(client, app):
    await register(client, "Ada@Example.com")
    response = await client.post("/users", json={"email": "ada@EXAMPLE.com", "password": "another password"})
    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}
    async with app_state(app).database.transaction() as session:
        assert await session.scalar(text("SELECT count(*) FROM auth.outbox")) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long enough"},
        {"email": "ada@example.com", "password": "short"},
        {"email": "ada@example.com", "password": "x" * 129},
        {"email": "ada@example.com"},
    ],
)
async def test_invalid_registrations_are_422(client, body):
    response = await client.post("/users", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


async def test_me_is_the_caller_the_gateway_vouched_for(client, settings):
    ada = await register(client)
    await register(client, "bob@example.com")
    response = await client.get("/users/me", headers=as_caller(settings, ada))
    assert response.status_code == 200
    assert response.json() == ada


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-User-Id": "1"},
        {"X-Tally-Identity": "garbage"},
        {"X-Tally-Identity": sign_identity(Caller(1, "ada@example.com"), "some other secret, long enough for HS256")},
    ],
)
async def test_no_trusted_identity_is_401(client, headers):
    await register(client)
    response = await client.get("/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_user_by_id(client, settings):
    ada = await register(client)
    found = await client.get(f"/users/{ada['id']}", headers=as_caller(settings, ada))
    assert found.json() == ada
    missing = await client.get(f"/users/{ada['id'] + 1}", headers=as_caller(settings, ada))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "User not found"}


@pytest.mark.parametrize("bad_id", ["0", "-1", str(2**70), "abc"])
async def test_impossible_ids_are_422(client, settings, bad_id):
    ada = await register(client)
    response = await client.get(f"/users/{bad_id}", headers=as_caller(settings, ada))
    assert response.status_code == 422


async def test_concurrent_registrations_of_one_email_give_one_user_and_one_event(client, app):
    responses = await asyncio.gather(
        *(
            client.post("/users", json={"email": f"{name}@example.com", "password": "long enough"})
            for name in ["ada", "ADA", "Ada", "aDa"]
        )
    )
    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409]
    async with app_state(app).database.transaction() as session:
        assert await session.scalar(text("SELECT count(*) FROM auth.users")) == 1
        assert await session.scalar(text("SELECT count(*) FROM auth.outbox")) == 1


@pytest.mark.parametrize(
    ("email", "accepted"),
    [
        ("ada@mail.test", False),
        ("ada@MAIL.TEST", False),
        ("ada@0.arpa", False),
        ("ada@printer.local", False),
        ("ada@x.onion", False),
        ("ada@x.invalid", False),
        ("ada@contest.example", True),
        ("ada@test.example.org", True),
    ],
)
async def test_the_documented_email_rule_is_the_one_applied(client, email, accepted):
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["UserCreate"]["properties"]["email"]
    response = await client.post("/users", json={"email": email, "password": "long enough"})

    assert response.status_code == (201 if accepted else 422), response.text
    assert bool(re.search(schema["pattern"], email)) is accepted


async def test_a_repeated_deletion_with_its_key_replays_204(client, app, settings):
    ada = await register(client)
    headers = {**as_caller(settings, ada), "Idempotency-Key": "bye"}

    first = await client.delete("/users/me", headers=headers)
    again = await client.delete("/users/me", headers=headers)
    unkeyed = await client.delete("/users/me", headers=as_caller(settings, ada))

    assert first.status_code == again.status_code == 204
    assert again.headers["idempotent-replayed"] == "true"
    assert unkeyed.status_code == 404
    async with app_state(app).database.transaction() as session:
        events = (await session.execute(text("SELECT event_type FROM auth.outbox ORDER BY id"))).scalars().all()
    assert events == ["user.registered", "user.deleted"]
