"""Text PostgreSQL cannot store (a NUL character) is a 422 in FastAPI's shape, never a 500, in
registration and in the login form; any other character in a password still works."""

import pytest
from sqlalchemy import text

from tally_shared.web import app_state

from .conftest import PASSWORD, register

NUL = "\x00"


def assert_refuses_nul(response, location: list, error_type: str = "string_nul_character") -> None:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == location
    assert error["type"] == error_type
    assert error["msg"]


async def registered_users(app) -> int:
    async with app_state(app).database.transaction() as session:
        return await session.scalar(text("SELECT count(*) FROM auth.users"))


@pytest.mark.parametrize("email", [f"ada{NUL}@example.com", f"ada@example.com{NUL}", NUL])
async def test_a_nul_in_the_email_of_a_registration_is_422(client, app, email):
    response = await client.post("/users", json={"email": email, "password": PASSWORD})

    # EmailStr refuses it, as it refuses every control character.
    assert_refuses_nul(response, ["body", "email"], error_type="value_error")
    assert await registered_users(app) == 0


@pytest.mark.parametrize("password", [f"{PASSWORD}{NUL}", f"{NUL}{PASSWORD}", NUL * 8])
async def test_a_nul_in_the_password_of_a_registration_is_422(client, app, password):
    response = await client.post("/users", json={"email": "ada@example.com", "password": password})

    assert_refuses_nul(response, ["body", "password"])
    assert await registered_users(app) == 0


@pytest.mark.parametrize("field", ["username", "password"])
async def test_a_nul_in_the_login_form_is_422(client, field):
    await register(client)
    form = {"username": "ada@example.com", "password": PASSWORD, field: f"ada@example.com{NUL}"}

    response = await client.post("/login", data=form)

    assert_refuses_nul(response, ["body", field])


async def test_a_password_may_hold_any_other_character(client):
    password = "tab\there, new\nline, \x01\x1f\x7f, quotes '\" \\, accents é, emoji 🔑, and spaces  "
    response = await client.post("/users", json={"email": "ada@example.com", "password": password})
    assert response.status_code == 201, response.text

    login = await client.post("/login", data={"username": "ada@example.com", "password": password})
    assert login.status_code == 200, login.text
    wrong = await client.post("/login", data={"username": "ada@example.com", "password": password.strip()})
    assert wrong.status_code == 403
