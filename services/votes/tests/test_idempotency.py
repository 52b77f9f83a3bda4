"""`Idempotency-Key` on POST /vote: a retried vote replays its 201 instead of a 409, with one
vote and one event however many copies arrive at once."""

import asyncio

from .test_votes import as_user, events, known_post, scalar


async def keyed_vote(client, user_id: int, post_id: int, key: str, direction: int = 1):
    return await client.post(
        "/vote", json={"post_id": post_id, "dir": direction}, headers={**as_user(user_id), "Idempotency-Key": key}
    )


async def test_a_retried_vote_replays_201_instead_of_409(app, client):
    await known_post(app, 10)

    first = await keyed_vote(client, 2, 10, "vote-1")
    retried = await keyed_vote(client, 2, 10, "vote-1")

    assert first.status_code == retried.status_code == 201
    assert retried.content == first.content
    assert retried.headers["idempotent-replayed"] == "true"
    assert (await keyed_vote(client, 2, 10, "vote-2")).status_code == 409  # a new key is a new request


async def test_concurrent_copies_make_one_vote_and_one_event(app, client):
    await known_post(app, 10)

    answers = await asyncio.gather(*(keyed_vote(client, 2, 10, "burst") for _ in range(20)))

    assert {answer.status_code for answer in answers} <= {201, 409}
    assert all(answer.headers.get("retry-after") == "1" for answer in answers if answer.status_code == 409)
    assert len({answer.content for answer in answers if answer.status_code == 201}) == 1
    assert await scalar(app, "SELECT count(*) FROM votes.votes") == 1
    assert [event_type for event_type, _ in await events(app)] == ["vote.cast"]


async def test_the_same_key_for_another_post_is_422(app, client):
    await known_post(app, 10)
    await known_post(app, 11)
    await keyed_vote(client, 2, 10, "vote-1")

    response = await keyed_vote(client, 2, 11, "vote-1")

    assert response.status_code == 422
    assert await scalar(app, "SELECT count(*) FROM votes.votes") == 1


async def test_a_refused_vote_leaves_its_key_unused(app, client, posts_service):
    refused = await keyed_vote(client, 2, 12, "early")
    assert refused.status_code == 404

    posts_service.posts[12] = {"id": 12, "owner_id": 1, "published": True, "revision": 1}
    assert (await keyed_vote(client, 2, 12, "early")).status_code == 201
