"""Failed logins throttled per account and per client address, in the auth database: 429 with a
`Retry-After` that grows, the same for unknown emails, lifted by the window, reset by a success."""

import asyncio
import time

import httpx
import pytest
from sqlalchemy import func, select, text

from auth.app import create_app
from auth.models import login_failures
from auth.service import AuthService
from tally_shared.web import CLIENT_ADDRESS_HEADER, app_state

from .conftest import PASSWORD, register

ALLOWANCE = 3


@pytest.fixture
def settings(settings):
    return settings.model_copy(
        update={
            "login_failures_per_account": ALLOWANCE,
            "login_failures_per_address": 2 * ALLOWANCE,
            "login_window_seconds": 60,
            "login_backoff_base_seconds": 2.0,
        }
    )


@pytest.fixture
async def app(settings):
    app = create_app(settings)
    async with app_state(app).database.transaction() as session:
        await session.execute(text("TRUNCATE auth.users, auth.outbox, auth.login_failures RESTART IDENTITY"))
    yield app
    await app_state(app).database.dispose()


async def login(client, email: str, password: str, address: str) -> httpx.Response:
    return await client.post(
        "/login", data={"username": email, "password": password}, headers={CLIENT_ADDRESS_HEADER: address}
    )


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@example.com"])
async def test_an_account_is_throttled_from_every_address_until_its_failures_age(client, email):
    await register(client, "ada@example.com")
    statuses = [(await login(client, email, "wrong password", f"10.0.0.{n}")).status_code for n in range(ALLOWANCE)]
    assert statuses == [403] * ALLOWANCE

    throttled = await login(client, email.upper(), PASSWORD, "10.9.9.9")
    assert throttled.status_code == 429
    assert throttled.json() == {"detail": "Too many failed logins; try again later"}
    assert int(throttled.headers["retry-after"]) >= 1

    await asyncio.sleep(int(throttled.headers["retry-after"]))
    expected = 200 if email == "ada@example.com" else 403
    assert (await login(client, email, PASSWORD, "10.9.9.9")).status_code == expected


async def test_the_wait_grows_with_each_failure_past_the_allowance(client, app):
    await register(client)
    for n in range(ALLOWANCE):
        await login(client, "ada@example.com", "wrong password", f"10.0.0.{n}")
    waits = []
    for _ in range(3):
        refused = await login(client, "ada@example.com", "wrong password", "10.0.1.1")
        assert refused.status_code == 429
        waits.append(int(refused.headers["retry-after"]))
        await age_failures(app, waits[-1])
        assert (await login(client, "ada@example.com", "wrong password", "10.0.1.1")).status_code == 403
    assert waits == [2, 4, 8]  # doubling from 2 s


async def age_failures(app, seconds: int) -> None:
    """As if `seconds` had passed since every failure."""
    async with app_state(app).database.transaction() as session:
        await session.execute(
            login_failures.update().values(failed_at=login_failures.c.failed_at - text(f"interval '{seconds} seconds'"))
        )


def test_the_backoff_doubles_and_never_exceeds_the_window(app, settings):
    service = app_state(app).resource(AuthService)
    assert [service.backoff_seconds(n) for n in range(6)] == [2, 4, 8, 16, 32, 60]
    assert service.backoff_seconds(10_000) == settings.login_window_seconds


async def test_a_success_resets_the_account_count(client):
    await register(client)
    for _ in range(ALLOWANCE - 1):
        assert (await login(client, "ada@example.com", "wrong password", "10.0.0.1")).status_code == 403
    assert (await login(client, "ada@example.com", PASSWORD, "10.0.0.1")).status_code == 200
    for _ in range(ALLOWANCE - 1):
        assert (await login(client, "ada@example.com", "wrong password", "10.0.0.1")).status_code == 403
    assert (await login(client, "ada@example.com", PASSWORD, "10.0.0.1")).status_code == 200


async def test_an_address_is_throttled_on_every_account(client):
    await register(client, "ada@example.com")
    for n in range(2 * ALLOWANCE):
        assert (await login(client, f"user{n}@example.com", "wrong password", "192.0.2.7")).status_code == 403

    assert (await login(client, "ada@example.com", PASSWORD, "192.0.2.7")).status_code == 429
    assert (await login(client, "ada@example.com", PASSWORD, "192.0.2.8")).status_code == 200


async def test_parallel_guesses_on_one_account_get_no_more_than_the_allowance(client, app):
    await register(client)

    answers = await asyncio.gather(
        *(login(client, "ada@example.com", f"guess {n}", f"10.1.0.{n}") for n in range(4 * ALLOWANCE))
    )

    assert {answer.status_code for answer in answers} <= {403, 429}
    assert sum(answer.status_code == 403 for answer in answers) <= ALLOWANCE
    async with app_state(app).database.transaction() as session:
        counted = (await session.execute(select(func.count()).select_from(login_failures))).scalar_one()
    assert counted <= 2 * ALLOWANCE  # one row for the account and one for the address per failure


async def test_a_throttled_answer_costs_no_password_hash(client):
    await register(client)
    for _ in range(ALLOWANCE):
        await login(client, "ada@example.com", "wrong password", "10.0.0.1")

    started = time.perf_counter()
    assert (await login(client, "ada@example.com", "wrong password", "10.0.0.1")).status_code == 429
    assert time.perf_counter() - started < 0.5
