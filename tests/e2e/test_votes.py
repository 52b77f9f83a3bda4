"""The tutorial's votes cases end to end, counts following votes, and the cascades of deletion."""

import time

import pytest
from accounts import new_account
from sqlalchemy import text
from test_posts import create_post, wait_for_count


def vote(gateway, account, post_id, direction: int = 1):
    return gateway.post("/vote", json={"post_id": post_id, "dir": direction}, headers=account.headers)


def eventually(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_vote_then_vote_again_then_remove_then_remove_again(gateway):
    author, voter = new_account(gateway), new_account(gateway)
    post = create_post(gateway, author)

    added = vote(gateway, voter, post["id"], 1)
    assert added.status_code == 201
    assert added.json() == {"message": "successfully added vote"}
    again = vote(gateway, voter, post["id"], 1)
    assert again.status_code == 409
    assert again.json()["detail"] == f"user {voter.id} has already voted on post {post['id']}"
    wait_for_count(gateway, voter, post["id"], 1)

    removed = vote(gateway, voter, post["id"], 0)
    assert removed.status_code == 201
    assert removed.json() == {"message": "successfully deleted vote"}
    assert vote(gateway, voter, post["id"], 0).status_code == 404
    wait_for_count(gateway, voter, post["id"], 0)


def test_voting_on_a_post_that_does_not_exist_is_404(gateway):
    voter = new_account(gateway)
    response = vote(gateway, voter, 9_000_000_000)
    assert response.status_code == 404
    assert response.json()["detail"] == "post with id: 9000000000 does not exist"


@pytest.mark.parametrize(
    "body",
    [{"post_id": 1, "dir": 2}, {"post_id": 1, "dir": -1}, {"post_id": 1}, {"dir": 1}, {"post_id": "x", "dir": 1}],
)
def test_a_malformed_vote_is_422(gateway, body):
    voter = new_account(gateway)
    response = gateway.post("/vote", json=body, headers=voter.headers)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_voting_needs_a_token(gateway):
    response = gateway.post("/vote", json={"post_id": 1, "dir": 1})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_post_created_a_moment_ago_can_be_voted_on_at_once(gateway):
    author, voter = new_account(gateway), new_account(gateway)
    for _ in range(30):
        post = create_post(gateway, author)
        response = vote(gateway, voter, post["id"])
        assert response.status_code == 201, response.text


def test_deleting_a_post_deletes_its_votes(gateway, stack):
    author, voter = new_account(gateway), new_account(gateway)
    post = create_post(gateway, author)
    assert vote(gateway, voter, post["id"]).status_code == 201
    assert gateway.delete(f"/posts/{post['id']}", headers=author.headers).status_code == 204

    votes = stack.database("votes")

    def votes_on_post() -> int:
        with votes.connect() as connection:
            return connection.execute(
                text("SELECT count(*) FROM votes.votes WHERE post_id = :p"), {"p": post["id"]}
            ).scalar()

    eventually(lambda: votes_on_post() == 0)
    assert vote(gateway, voter, post["id"], 0).status_code == 404
    assert vote(gateway, new_account(gateway), post["id"], 1).status_code == 404
    votes.dispose()


def test_deleting_an_account_deletes_its_posts_votes_and_tokens_everywhere(gateway, stack):
    leaving, staying = new_account(gateway), new_account(gateway)
    own_post = create_post(gateway, leaving)
    others_post = create_post(gateway, staying)
    assert vote(gateway, staying, own_post["id"]).status_code == 201  # someone's vote on the leaving user's post
    assert vote(gateway, leaving, others_post["id"]).status_code == 201
    assert vote(gateway, staying, others_post["id"]).status_code == 201
    wait_for_count(gateway, staying, others_post["id"], 2)

    response = gateway.delete("/users/me", headers=leaving.headers)
    assert response.status_code == 204

    # Their posts disappear, the counts they contributed drop, and their tokens stop working.
    eventually(lambda: gateway.get(f"/posts/{own_post['id']}", headers=staying.headers).status_code == 404)
    wait_for_count(gateway, staying, others_post["id"], 1)
    eventually(lambda: gateway.get("/posts", headers=leaving.headers).status_code == 401)
    assert gateway.get("/users/me", headers=leaving.headers).status_code == 401
    assert gateway.post("/posts", json={"title": "t", "content": "c"}, headers=leaving.headers).status_code == 401

    votes = stack.database("votes")
    with votes.connect() as connection:
        remaining = connection.execute(
            text("SELECT count(*) FROM votes.votes WHERE user_id = :u OR post_id = :p"),
            {"u": leaving.id, "p": own_post["id"]},
        ).scalar()
    votes.dispose()
    assert remaining == 0
    assert gateway.get(f"/users/{leaving.id}", headers=staying.headers).status_code == 404
