"""Users for end-to-end tests: registered and logged in through the gateway."""

import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery"


def register(gateway: httpx.Client, email: str | None = None) -> dict:
    email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
    response = gateway.post("/users", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()


def login(gateway: httpx.Client, email: str) -> str:
    response = gateway.post("/login", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return body["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    headers: dict[str, str]


def new_account(gateway: httpx.Client) -> Account:
    user = register(gateway)
    return Account(id=user["id"], email=user["email"], headers=bearer(login(gateway, user["email"])))
