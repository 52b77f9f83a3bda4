"""Password guessing through the gateway: failed logins are throttled per account, whichever
address they come from (the gateway trusts 127.0.0.1's X-Forwarded-For, so the test plays five
clients), the right password too, until the window passes; an unknown email alike."""

import time
import uuid

from accounts import PASSWORD, register
from conftest import LOGIN_WINDOW_SECONDS

ACCOUNT_ALLOWANCE = 5  # AUTH_LOGIN_FAILURES_PER_ACCOUNT's default
ADDRESSES = [f"203.0.113.{n}" for n in range(1, 6)]


def login(gateway, email: str, password: str, address: str):
    return gateway.post("/login", data={"username": email, "password": password}, headers={"X-Forwarded-For": address})


def guess_thirty_times(gateway, email: str) -> list[int]:
    return [login(gateway, email, f"guess {n}", ADDRESSES[n % len(ADDRESSES)]).status_code for n in range(30)]


def assert_throttled_after_the_allowance(statuses: list[int]) -> None:
    assert statuses[:ACCOUNT_ALLOWANCE] == [403] * ACCOUNT_ALLOWANCE
    assert statuses[ACCOUNT_ALLOWANCE] == 429
    # A wait that ended mid-run lets one more guess through, and doubles the next wait;
    # however slow the machine, most guesses are refused.
    assert statuses.count(429) > statuses.count(403), statuses


def test_guessing_one_accounts_password_from_five_addresses_is_throttled_until_the_window_passes(gateway):
    user = register(gateway)

    assert_throttled_after_the_allowance(guess_thirty_times(gateway, user["email"]))

    refused = login(gateway, user["email"], PASSWORD, "198.51.100.7")
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Too many failed logins; try again later"}
    assert 1 <= int(refused.headers["retry-after"]) <= LOGIN_WINDOW_SECONDS
    deadline = time.monotonic() + LOGIN_WINDOW_SECONDS + 5
    while (answer := login(gateway, user["email"], PASSWORD, "198.51.100.7")).status_code == 429:
        assert time.monotonic() < deadline, "still refused after the window"
        time.sleep(int(answer.headers["retry-after"]))
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "bearer"


def test_an_unknown_email_is_throttled_the_same_way(gateway):
    unknown = f"nobody-{uuid.uuid4().hex[:12]}@example.com"

    statuses = guess_thirty_times(gateway, unknown)

    assert_throttled_after_the_allowance(statuses)
    refused = login(gateway, unknown, PASSWORD, "198.51.100.8")
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Too many failed logins; try again later"}
    assert "retry-after" in refused.headers
