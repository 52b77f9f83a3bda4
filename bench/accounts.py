"""Tokens for the load: users of the dataset logged in through the gateway's POST /login."""

import asyncio

import httpx

from bench.dataset import PASSWORD, email

# Each login costs an Argon2 verification (tens of ms of CPU): a few at a time is what the auth service can do.
CONCURRENT_LOGINS = 8


async def log_in(gateway_url: str, user_ids: list[int]) -> dict[int, str]:
    """Each user's bearer token, by user id."""
    limit = asyncio.Semaphore(CONCURRENT_LOGINS)

    async def one(client: httpx.AsyncClient, user_id: int) -> tuple[int, str]:
        async with limit:
            response = await client.post("/login", data={"username": email(user_id), "password": PASSWORD})
        response.raise_for_status()
        return user_id, response.json()["access_token"]

    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return dict(await asyncio.gather(*(one(client, user_id) for user_id in user_ids)))
