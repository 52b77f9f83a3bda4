"""POST /vote against the real database: the rules, the count events, the replica and its read-through."""

import pytest
from sqlalchemy import select, text

from tally_shared.events import Envelope, PostCreated, PostDeleted, UserDeleted
from tally_shared.identity import IDENTITY_HEADER, SERVICE_HEADER, Caller, sign_identity, sign_service
from tally_shared.settings import DEVELOPMENT_INTERNAL_SECRET
from votes import repository
from votes.events import HANDLERS
from votes.models import outbox, posts


def as_user(user_id: int) -> dict[str, str]:
    return {IDENTITY_HEADER: sign_identity(Caller(user_id, f"u{user_id}@x.io"), DEVELOPMENT_INTERNAL_SECRET)}


def vote(client, user_id: int, post_id: int, direction: int = 1):
    return client.post("/vote", json={"post_id": post_id, "dir": direction}, headers=as_user(user_id))


def apply(app, event) -> None:
    with app.state.database.transaction() as session:
        HANDLERS[type(event)](session, event, Envelope.wrap(event, producer="test", request_id=None))


def known_post(app, post_id: int, owner_id: int = 1, published: bool = True, revision: int = 1) -> None:
    apply(
        app,
        PostCreated(
            post_id=post_id,
            owner_id=owner_id,
            published=published,
            revision=revision,
            created_at="2026-01-01T00:00:00Z",
        ),
    )


def events(app) -> list[tuple[str, dict]]:
    with app.state.database.transaction() as session:
        rows = session.execute(select(outbox.c.event_type, outbox.c.envelope).order_by(outbox.c.id)).all()
    return [(row.event_type, row.envelope["data"]) for row in rows]


def test_each_vote_publishes_the_posts_whole_count_and_its_version(app, client):
    known_post(app, 10)
    assert vote(client, 2, 10, 1).json() == {"message": "successfully added vote"}
    assert vote(client, 3, 10, 1).status_code == 201
    assert vote(client, 2, 10, 1).status_code == 409
    assert vote(client, 2, 10, 0).json() == {"message": "successfully deleted vote"}
    assert vote(client, 2, 10, 0).status_code == 404
    assert events(app) == [
        ("vote.cast", {"post_id": 10, "user_id": 2, "votes": 1, "votes_version": 1}),
        ("vote.cast", {"post_id": 10, "user_id": 3, "votes": 2, "votes_version": 2}),
        ("vote.retracted", {"post_id": 10, "user_id": 2, "votes": 1, "votes_version": 3}),
    ]


def test_a_post_not_yet_replicated_is_read_through_once(app, client, posts_service):
    posts_service.posts[20] = {"id": 20, "owner_id": 1, "published": True, "revision": 1}
    assert vote(client, 2, 20).status_code == 201
    assert vote(client, 3, 20).status_code == 201
    assert posts_service.asked == [20]
    # The event arriving later, with the same revision, changes nothing.
    known_post(app, 20)
    assert vote(client, 4, 20).status_code == 201


def test_a_post_the_posts_service_does_not_know_is_404(client, posts_service):
    response = vote(client, 2, 30)
    assert response.status_code == 404
    assert response.json() == {"detail": "post with id: 30 does not exist"}


def test_the_posts_service_down_on_a_miss_is_503_with_retry_after(client, posts_service):
    posts_service.posts = None
    response = vote(client, 2, 31)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "detail" in response.json()


def test_someone_elses_draft_does_not_exist(app, client):
    known_post(app, 40, owner_id=5, published=False)
    assert vote(client, 2, 40).status_code == 404
    assert vote(client, 5, 40).status_code == 201


def test_updates_apply_by_revision_and_a_deleted_post_stays_deleted(app, client):
    known_post(app, 50, owner_id=5, published=False, revision=2)
    known_post(app, 50, owner_id=5, published=True, revision=1)  # older: ignored
    assert vote(client, 2, 50).status_code == 404
    assert vote(client, 5, 50).status_code == 201
    apply(app, PostDeleted(post_id=50, owner_id=5))
    known_post(app, 50, owner_id=5, published=True, revision=3)  # late: ignored
    assert vote(client, 2, 50).status_code == 404
    assert vote(client, 5, 50, 0).status_code == 404
    with app.state.database.transaction() as session:
        assert session.execute(text("SELECT count(*) FROM votes.votes WHERE post_id = 50")).scalar() == 0


def test_a_deleted_user_loses_their_votes_and_may_not_vote_again(app, client):
    for post_id in (60, 61):
        known_post(app, post_id)
        assert vote(client, 7, post_id).status_code == 201
    assert vote(client, 8, 61).status_code == 201
    apply(app, UserDeleted(user_id=7))
    retracted = [data for kind, data in events(app) if kind == "vote.retracted"]
    assert retracted == [
        {"post_id": 60, "user_id": 7, "votes": 0, "votes_version": 2},
        {"post_id": 61, "user_id": 7, "votes": 1, "votes_version": 3},
    ]
    response = vote(client, 7, 60)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("body", [{"post_id": 1, "dir": 2}, {"post_id": 0, "dir": 1}, {"post_id": 2**63, "dir": 1}])
def test_bad_votes_are_422(client, body):
    response = client.post("/vote", json=body, headers=as_user(2))
    assert response.status_code == 422


def test_tallies_count_the_votes_and_repair_a_drifted_count(app, client):
    known_post(app, 70)
    known_post(app, 71)
    assert vote(client, 2, 70).status_code == 201
    assert vote(client, 3, 70).status_code == 201
    with app.state.database.transaction() as session:
        session.execute(posts.update().where(posts.c.id == 70).values(votes=9))
    headers = {SERVICE_HEADER: sign_service("posts", DEVELOPMENT_INTERNAL_SECRET)}

    response = client.post("/internal/tallies", json={"post_ids": [70, 71, 72]}, headers=headers)

    assert response.status_code == 200
    assert response.json() == {
        "tallies": [
            {"post_id": 70, "votes": 2, "votes_version": 3},
            {"post_id": 71, "votes": 0, "votes_version": 0},
        ]
    }
    with app.state.database.transaction() as session:
        assert repository.true_counts(session, [70])[0][1] == 2


def test_internal_routes_refuse_a_user_and_nobody(client):
    assert client.post("/internal/tallies", json={"post_ids": [1]}).status_code == 401
    assert client.post("/internal/tallies", json={"post_ids": [1]}, headers=as_user(2)).status_code == 401
