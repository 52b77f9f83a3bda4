"""Each event type, caused through the gateway and caught on the wire, matches /asyncapi.json.

The stack checks every event it publishes when it stops (conftest.launched_stack); this
test makes sure that check sees every type, and that the gateway serves the document."""

import time

from accounts import new_account

from tally_shared.events import EVENT_TYPES

COLLECT_TIMEOUT_SECONDS = 30


def test_every_event_type_is_published_as_the_asyncapi_document_says(stack, gateway):
    author, voter = new_account(gateway), new_account(gateway)
    post = gateway.post("/posts", json={"title": "contract", "content": "c"}, headers=author.headers).json()
    assert gateway.post("/vote", json={"post_id": post["id"], "dir": 1}, headers=voter.headers).status_code == 201
    assert gateway.post("/vote", json={"post_id": post["id"], "dir": 0}, headers=voter.headers).status_code == 201
    assert gateway.put(f"/posts/{post['id']}", json={"title": "t", "content": "c"}, headers=author.headers).is_success
    assert gateway.delete(f"/posts/{post['id']}", headers=author.headers).status_code == 204
    assert gateway.delete("/users/me", headers=voter.headers).status_code == 204

    ours = {author.id, voter.id}
    seen: set[str] = set()
    deadline = time.monotonic() + COLLECT_TIMEOUT_SECONDS
    while seen != set(EVENT_TYPES) and time.monotonic() < deadline:
        seen |= {
            event["type"]
            for event in stack.events.collect()
            if ours & {event["data"].get("user_id"), event["data"].get("owner_id")}
        }
        time.sleep(0.2)
    assert seen == set(EVENT_TYPES)
    assert stack.events.mismatches == []

    document = gateway.get("/asyncapi.json")
    assert document.status_code == 200
    assert {channel["address"] for channel in document.json()["channels"].values()} == set(EVENT_TYPES)
