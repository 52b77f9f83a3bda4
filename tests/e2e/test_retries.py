"""Retried writes through the whole stack: with an `Idempotency-Key`, twenty copies sent at once
make one post (or one vote, one event, one count), a later copy replays the first answer, and
the stored answer survives a restart of the service that owns it."""

import asyncio
import time
import uuid

import httpx
from accounts import new_account
from conftest import wait_until_ready
from sqlalchemy import text
from test_posts import create_post, wait_for_count

COPIES = 20
POST = {"title": "sent once, however often", "content": "retried"}


def keyed(account, key: str) -> dict[str, str]:
    return {**account.headers, "Idempotency-Key": key}


async def send_copies(stack, method: str, path: str, body: dict, headers: dict[str, str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        return await asyncio.gather(*(client.request(method, path, json=body, headers=headers) for _ in range(COPIES)))


def assert_one_answer(answers: list[httpx.Response], status: int) -> bytes:
    """Every copy has the first answer, or was told to retry while the first was in flight."""
    assert {answer.status_code for answer in answers} <= {status, 409}, [answer.text for answer in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["retry-after"] == "1"
    bodies = {answer.content for answer in answers if answer.status_code == status}
    assert len(bodies) == 1
    return bodies.pop()


def posts_of(stack, owner_id: int) -> int:
    with stack.database("posts").connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM posts.posts WHERE owner_id = :owner"), {"owner": owner_id}
        ).scalar_one()


def test_twenty_copies_of_a_post_make_one_post_and_a_later_copy_replays_it(stack, gateway):
    author = new_account(gateway)
    headers = keyed(author, str(uuid.uuid4()))

    answers = asyncio.run(send_copies(stack, "POST", "/posts", POST, headers))

    body = assert_one_answer(answers, 201)
    assert posts_of(stack, author.id) == 1
    later = gateway.post("/posts", json=POST, headers=headers)
    assert later.status_code == 201
    assert later.content == body
    assert later.headers["idempotent-replayed"] == "true"
    assert posts_of(stack, author.id) == 1


def test_twenty_copies_of_a_vote_make_one_vote_one_event_and_the_exact_count(stack, gateway):
    author, voter = new_account(gateway), new_account(gateway)
    post = create_post(gateway, author)
    headers = keyed(voter, str(uuid.uuid4()))
    vote = {"post_id": post["id"], "dir": 1}

    answers = asyncio.run(send_copies(stack, "POST", "/vote", vote, headers))

    assert assert_one_answer(answers, 201) == b'{"message":"successfully added vote"}'
    later = gateway.post("/vote", json=vote, headers=headers)
    assert later.status_code == 201, later.text  # not "already voted": the retry gets the first answer
    assert later.headers["idempotent-replayed"] == "true"
    with stack.database("votes").connect() as connection:
        votes = connection.execute(
            text("SELECT count(*) FROM votes.votes WHERE post_id = :post"), {"post": post["id"]}
        ).scalar_one()
        events = connection.execute(
            text(
                "SELECT count(*) FROM votes.outbox"
                " WHERE event_type = 'vote.cast' AND envelope->'data'->>'post_id' = :post"
            ),
            {"post": str(post["id"])},
        ).scalar_one()
    assert (votes, events) == (1, 1)
    wait_for_count(gateway, voter, post["id"], 1)


def test_the_same_key_with_another_body_is_422_and_other_users_keys_are_their_own(gateway):
    ada, bob = new_account(gateway), new_account(gateway)
    key = str(uuid.uuid4())
    assert gateway.post("/posts", json=POST, headers=keyed(ada, key)).status_code == 201

    reused = gateway.post("/posts", json={**POST, "title": "another"}, headers=keyed(ada, key))
    assert reused.status_code == 422
    assert reused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]

    bobs = gateway.post("/posts", json=POST, headers=keyed(bob, key))
    assert bobs.status_code == 201
    assert bobs.json()["owner_id"] == bob.id
    assert "idempotent-replayed" not in bobs.headers


def test_a_key_survives_a_restart_of_the_owning_service(stack, gateway):
    author = new_account(gateway)
    headers = keyed(author, str(uuid.uuid4()))
    first = gateway.post("/posts", json=POST, headers=headers)
    assert first.status_code == 201

    for name, url in zip(stack.names("posts"), stack.service_urls["posts"], strict=True):
        stack.stop(name)
        stack.start(name)
        wait_until_ready(stack, url)

    again = gateway.post("/posts", json=POST, headers=headers)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert posts_of(stack, author.id) == 1


def test_a_deletion_of_ones_account_replays_until_the_token_is_revoked(gateway):
    account = new_account(gateway)
    headers = keyed(account, str(uuid.uuid4()))

    assert gateway.delete("/users/me", headers=headers).status_code == 204
    # Replayed while the token still reaches auth; 401 once the gateway has revoked it.
    for _ in range(50):
        repeat = gateway.delete("/users/me", headers=headers)
        if repeat.status_code == 401:
            break
        assert repeat.status_code == 204
        assert repeat.headers["idempotent-replayed"] == "true"
        time.sleep(0.1)
    assert repeat.status_code == 401
