"""POST /vote against the real database: the rules, the vote events, the replica and its read-through."""

import asyncio

import pytest
from sqlalchemy import select, text

from tally_shared.events import Envelope, PostCreated, PostDeleted, UserDeleted
from tally_shared.settings import DEVELOPMENT_INTERNAL_SECRET
from tally_shared.web import IDENTITY_HEADER, SERVICE_HEADER, Caller, app_state, sign_identity, sign_service
from votes import repository
from votes.events import HANDLERS
from votes.models import outbox, posts


def as_user(user_id: int) -> dict[str, str]:
    return {IDENTITY_HEADER: sign_identity(Caller(user_id, f"u{user_id}@x.io"), DEVELOPMENT_INTERNAL_SECRET)}


async def vote(client, user_id: int, post_id: int, direction: int = 1):
    return await client.post("/vote", json={"post_id": post_id, "dir": direction}, headers=as_user(user_id))


async def apply(app, event) -> None:
    async with app_state(app).database.transaction() as session:
        await HANDLERS[type(event)](session, event, Envelope.wrap(event, producer="test", request_id=None))


async def known_post(app, post_id: int, owner_id: int = 1, published: bool = True, revision: int = 1) -> None:
    await apply(
        app,
        PostCreated(
            post_id=post_id,
            owner_id=owner_id,
            published=published,
            revision=revision,
            created_at="2026-01-01T00:00:00Z",
        ),
    )


async def events(app) -> list[tuple[str, dict]]:
    async with app_state(app).database.transaction() as session:
        rows = (await session.execute(select(outbox.c.event_type, outbox.c.envelope).order_by(outbox.c.id))).all()
    return [(row.event_type, row.envelope["data"]) for row in rows]


async def scalar(app, sql: str):
    async with app_state(app).database.transaction() as session:
        return await session.scalar(text(sql))


async def test_each_vote_publishes_one_event_at_the_posts_count_epoch(app, client):
    await known_post(app, 10)
    assert (await vote(client, 2, 10, 1)).json() == {"message": "successfully added vote"}
    assert (await vote(client, 3, 10, 1)).status_code == 201
    assert (await vote(client, 2, 10, 1)).status_code == 409
    assert (await vote(client, 2, 10, 0)).json() == {"message": "successfully deleted vote"}
    assert (await vote(client, 2, 10, 0)).status_code == 404
    assert await events(app) == [
        ("vote.cast", {"post_id": 10, "user_id": 2, "count_epoch": 0}),
        ("vote.cast", {"post_id": 10, "user_id": 3, "count_epoch": 0}),
        ("vote.retracted", {"post_id": 10, "user_id": 2, "count_epoch": 0}),
    ]


async def test_a_vote_writes_and_locks_nothing_other_voters_of_the_post_need(app, client):
    """While one voter's transaction is still open, every other voter of the same post commits."""
    await known_post(app, 11)
    # xmin changes with a write, xmax is set by a row lock (a foreign key check would take one).
    row_version = "SELECT xmin::text || '/' || xmax::text FROM votes.posts WHERE id = 11"
    version_before = await scalar(app, row_version)
    database = app_state(app).database
    async with database.transaction() as held_open:
        await repository.lock_vote(held_open, user_id=2, post_id=11)
        assert await repository.cast_vote(held_open, user_id=2, post_id=11)
        answers = await asyncio.wait_for(
            asyncio.gather(*(vote(client, user_id, 11) for user_id in range(100, 140))), timeout=10
        )
        assert [answer.status_code for answer in answers] == [201] * 40
    # The post's replica row was never written nor locked: nothing for its voters to queue on.
    assert await scalar(app, row_version) == version_before
    assert await scalar(app, "SELECT count(*) FROM votes.votes WHERE post_id = 11") == 41


async def test_a_recount_waits_for_votes_in_progress_and_moves_the_post_to_a_new_epoch(app, client):
    await known_post(app, 12)
    assert (await vote(client, 2, 12)).status_code == 201
    database = app_state(app).database
    async with database.transaction() as voter:
        await repository.lock_vote(voter, user_id=3, post_id=12)
        assert await repository.cast_vote(voter, user_id=3, post_id=12)

        async def recount():
            async with database.transaction() as session:
                return await repository.recount(session, [12])

        recounting = asyncio.create_task(recount())
        await asyncio.sleep(0.3)
        assert not recounting.done(), "the recount must wait for the vote in progress"
    assert await asyncio.wait_for(recounting, timeout=5) == [(12, 2, 1)]
    assert (await vote(client, 4, 12)).status_code == 201
    assert (await events(app))[-1] == ("vote.cast", {"post_id": 12, "user_id": 4, "count_epoch": 1})


async def test_a_post_not_yet_replicated_is_read_through_once(app, client, posts_service):
    posts_service.posts[20] = {"id": 20, "owner_id": 1, "published": True, "revision": 1}
    assert (await vote(client, 2, 20)).status_code == 201
    assert (await vote(client, 3, 20)).status_code == 201
    assert posts_service.asked == [20]
    # The event arriving later, with the same revision, changes nothing.
    await known_post(app, 20)
    assert (await vote(client, 4, 20)).status_code == 201


async def test_a_post_the_posts_service_does_not_know_is_404(client, posts_service):
    response = await vote(client, 2, 30)
    assert response.status_code == 404
    assert response.json() == {"detail": "post with id: 30 does not exist"}


async def test_the_posts_service_down_on_a_miss_is_503_with_retry_after(client, posts_service):
    posts_service.posts = None
    response = await vote(client, 2, 31)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "detail" in response.json()


async def test_someone_elses_draft_does_not_exist(app, client):
    await known_post(app, 40, owner_id=5, published=False)
    assert (await vote(client, 2, 40)).status_code == 404
    assert (await vote(client, 5, 40)).status_code == 201


async def test_updates_apply_by_revision_and_a_deleted_post_stays_deleted(app, client):
    await known_post(app, 50, owner_id=5, published=False, revision=2)
    await known_post(app, 50, owner_id=5, published=True, revision=1)  # older: ignored
    assert (await vote(client, 2, 50)).status_code == 404
    assert (await vote(client, 5, 50)).status_code == 201
    await apply(app, PostDeleted(post_id=50, owner_id=5))
    await known_post(app, 50, owner_id=5, published=True, revision=3)  # late: ignored
    assert (await vote(client, 2, 50)).status_code == 404
    assert (await vote(client, 5, 50, 0)).status_code == 404
    assert await scalar(app, "SELECT count(*) FROM votes.votes WHERE post_id = 50") == 0


async def test_a_deleted_user_loses_their_votes_and_may_not_vote_again(app, client):
    for post_id in (60, 61):
        await known_post(app, post_id)
        assert (await vote(client, 7, post_id)).status_code == 201
    assert (await vote(client, 8, 61)).status_code == 201
    await apply(app, UserDeleted(user_id=7))
    retracted = [data for kind, data in await events(app) if kind == "vote.retracted"]
    assert retracted == [
        {"post_id": 60, "user_id": 7, "count_epoch": 0},
        {"post_id": 61, "user_id": 7, "count_epoch": 0},
    ]
    assert await scalar(app, "SELECT count(*) FROM votes.votes WHERE user_id = 7") == 0
    response = await vote(client, 7, 60)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("body", [{"post_id": 1, "dir": 2}, {"post_id": 0, "dir": 1}, {"post_id": 2**63, "dir": 1}])
async def test_bad_votes_are_422(client, body):
    response = await client.post("/vote", json=body, headers=as_user(2))
    assert response.status_code == 422


async def test_tallies_recount_live_posts_at_a_new_epoch(app, client):
    await known_post(app, 70)
    await known_post(app, 71)
    assert (await vote(client, 2, 70)).status_code == 201
    assert (await vote(client, 3, 70)).status_code == 201
    headers = {SERVICE_HEADER: sign_service("posts", DEVELOPMENT_INTERNAL_SECRET)}

    response = await client.post("/internal/tallies", json={"post_ids": [70, 71, 72]}, headers=headers)
    again = await client.post("/internal/tallies", json={"post_ids": [70]}, headers=headers)

    assert response.status_code == 200
    assert response.json() == {
        "tallies": [
            {"post_id": 70, "votes": 2, "count_epoch": 1},
            {"post_id": 71, "votes": 0, "count_epoch": 1},
        ]
    }
    assert again.json() == {"tallies": [{"post_id": 70, "votes": 2, "count_epoch": 2}]}
    async with app_state(app).database.transaction() as session:
        assert (await session.execute(select(posts.c.count_epoch).where(posts.c.id == 70))).scalar_one() == 2


async def test_internal_routes_refuse_a_user_and_nobody(client):
    assert (await client.post("/internal/tallies", json={"post_ids": [1]})).status_code == 401
    assert (await client.post("/internal/tallies", json={"post_ids": [1]}, headers=as_user(2))).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"post_id": 80, "dir": True},
        {"post_id": 80, "dir": "1"},
        {"post_id": "80", "dir": 1},
        {"post_id": True, "dir": 1},
    ],
)
async def test_numbers_in_text_or_booleans_are_422_as_the_schema_says(app, client, body):
    await known_post(app, 80)
    response = await client.post("/vote", json=body, headers=as_user(2))
    assert response.status_code == 422, response.text


async def test_an_integer_written_with_a_fraction_of_zero_is_an_integer(app, client):
    await known_post(app, 81)
    response = await client.post("/vote", json={"post_id": 81.0, "dir": 1.0}, headers=as_user(2))
    assert response.status_code == 201, response.text


async def test_an_id_a_double_cannot_tell_from_the_declared_maximum_is_accepted(client):
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["VoteIn"]
    declared = schema["properties"]["post_id"]["maximum"]
    # A client reading numbers as doubles takes this for the maximum itself: it must not be 422.
    response = await client.post("/vote", json={"post_id": declared + 500, "dir": 1}, headers=as_user(2))
    assert response.status_code == 404, response.text
