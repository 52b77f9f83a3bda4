"""The typed clients of the internal routes: replicas in turn, a refused connection tried on the
next replica, any other failure a 503 for the caller, and answers parsed into the shared models.
The other service is played by httpx's MockTransport (it is outside the code under test)."""

import httpx
import pytest

from tally_shared.internal import PostReplica, PostsClient, Replicas, Tally, VotesClient
from tally_shared.settings import ServiceSettings
from tally_shared.web import ServiceUnavailableError, verify_service

SETTINGS = ServiceSettings(service_name="votes", database_url="postgresql://unused/unused")


def test_replicas_are_taken_in_turn_each_starting_one_further():
    replicas = Replicas.from_setting("posts", " http://a:1/ , http://b:2,,http://c:3")
    assert replicas.urls == ("http://a:1", "http://b:2", "http://c:3")
    assert [replicas.in_turn()[0] for _ in range(4)] == ["http://a:1", "http://b:2", "http://c:3", "http://a:1"]
    assert replicas.netlocs == {"a:1", "b:2", "c:3"}


def test_a_setting_with_no_url_is_refused_by_name():
    with pytest.raises(ValueError, match="no URL given for the posts service"):
        Replicas.from_setting("posts", " , ")


async def test_the_posts_client_signs_its_call_and_returns_the_model():
    seen: list[httpx.Request] = []

    def posts_service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/internal/posts/7":
            return httpx.Response(200, json={"id": 7, "owner_id": 3, "published": False, "revision": 2})
        return httpx.Response(404, json={"detail": "Post not found"})

    client = PostsClient("http://posts", SETTINGS, transport=httpx.MockTransport(posts_service))
    try:
        assert await client.post_replica(7) == PostReplica(id=7, owner_id=3, published=False, revision=2)
        assert await client.post_replica(8) is None
    finally:
        await client.close()
    signed = seen[0].headers["X-Tally-Service"]
    assert verify_service(signed, SETTINGS.internal_secret.get_secret_value()) == "votes"


async def test_a_refused_connection_goes_to_the_next_replica():
    def replicas(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"tallies": [{"post_id": 1, "votes": 4, "count_epoch": 9}]})

    client = VotesClient("http://down,http://up", SETTINGS, transport=httpx.MockTransport(replicas))
    try:
        for _ in range(2):  # whichever replica comes first
            assert await client.tallies([1]) == [Tally(post_id=1, votes=4, count_epoch=9)]
    finally:
        await client.close()


@pytest.mark.parametrize(
    "failure",
    [
        lambda request: httpx.Response(500, json={"detail": "Internal Server Error"}),
        lambda request: httpx.Response(503, json={"detail": "busy"}),
        lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("no answer", request=request)),
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("connection refused", request=request)),
    ],
    ids=["500", "503", "timeout", "every replica refused"],
)
async def test_a_failing_service_is_a_503_that_names_it(failure):
    client = PostsClient("http://posts-1,http://posts-2", SETTINGS, transport=httpx.MockTransport(failure))
    try:
        with pytest.raises(ServiceUnavailableError) as raised:
            await client.post_replica(1)
    finally:
        await client.close()
    assert raised.value.status_code == 503
    assert raised.value.headers == {"Retry-After": "1"}
    assert raised.value.detail == "The posts service is unavailable"
    assert "/internal/posts/1" in str(raised.value)
