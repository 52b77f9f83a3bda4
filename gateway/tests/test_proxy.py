"""Routing, forwarding and the gateway's own errors."""

import httpx
import pytest
from gateway_fakes import FakeServices, gateway_client


@pytest.mark.parametrize(
    ("path", "service", "upstream_path"),
    [
        ("/posts", "posts", "/posts"),
        ("/posts/", "posts", "/posts"),
        ("/posts/12", "posts", "/posts/12"),
        ("/posts/12/", "posts", "/posts/12"),
        ("/vote", "votes", "/vote"),
        ("/vote/", "votes", "/vote"),
        ("/users/me", "auth", "/users/me"),
        ("/users/me/", "auth", "/users/me"),
        ("/users/3", "auth", "/users/3"),
    ],
)
async def test_both_slash_forms_reach_the_same_upstream_path(
    client, services: FakeServices, bearer, path, service, upstream_path
):
    response = await client.get(path, headers=bearer)

    assert response.status_code == 200
    assert response.json()["service"] == service
    assert response.json()["path"] == upstream_path
    assert "location" not in response.headers


async def test_method_query_body_and_content_type_are_forwarded(client, services: FakeServices, bearer):
    response = await client.put(
        "/posts/5?limit=3&search=a%20b", headers={**bearer, "Accept": "application/json"}, json={"title": "t"}
    )

    assert response.status_code == 200
    forwarded = services.service_requests("posts")[-1]
    assert forwarded.method == "PUT"
    assert forwarded.url.query == b"limit=3&search=a%20b"
    assert forwarded.content == b'{"title":"t"}'
    assert forwarded.headers["content-type"] == "application/json"
    assert forwarded.headers["accept"] == "application/json"


async def test_the_login_form_is_forwarded_as_is(client, services: FakeServices):
    await client.post("/login", data={"username": "ada@example.com", "password": "password123"})

    forwarded = services.service_requests("auth")[-1]
    assert forwarded.headers["content-type"] == "application/x-www-form-urlencoded"
    assert forwarded.content == b"username=ada%40example.com&password=password123"


async def test_only_safe_response_headers_come_back(settings, services: FakeServices, bearer):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            return services.handle(request)
        return httpx.Response(
            201,
            json={"id": 1},
            headers={
                "location": request.url.path + "/1",
                "retry-after": "3",
                "server": "uvicorn",
                "x-internal": "posts.internal:8002",
            },
        )

    async with gateway_client(settings, handler) as client:
        response = await client.post("/posts", headers=bearer, json={})

    assert response.status_code == 201
    assert response.headers["location"] == "/posts/1"
    assert response.headers["retry-after"] == "3"
    assert "x-internal" not in response.headers


async def test_a_next_page_link_comes_back_only_as_a_path(settings, services: FakeServices, bearer):
    next_page = '</posts?limit=2&cursor=abc>; rel="next"'
    links = iter([next_page, '<http://posts.internal:8002/posts?cursor=abc>; rel="next"'])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            return services.handle(request)
        return httpx.Response(200, json=[], headers={"link": next(links)})

    async with gateway_client(settings, handler) as client:
        relative = await client.get("/posts", headers=bearer)
        absolute = await client.get("/posts", headers=bearer)

    assert relative.headers["link"] == next_page
    assert "link" not in absolute.headers


async def test_an_absolute_location_never_leaks(settings, services: FakeServices, bearer):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            return services.handle(request)
        return httpx.Response(307, headers={"location": "http://posts.internal:8002/posts"})

    async with gateway_client(settings, handler) as client:
        response = await client.get("/posts/", headers=bearer)

    assert "location" not in response.headers
    assert "internal" not in response.text


@pytest.mark.parametrize(
    ("body", "content_type", "passed_through"),
    [
        (b'{"detail": "Database unavailable"}', "application/json", True),
        (b"Traceback (most recent call last):\n  File x", "text/plain", False),
        (b'{"error": "boom"}', "application/json", False),
        (b'{"detail": "cannot reach posts.internal:8002"}', "application/json", False),
    ],
)
async def test_upstream_server_errors_never_leak_internals(
    settings, services: FakeServices, bearer, body, content_type, passed_through
):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            return services.handle(request)
        return httpx.Response(500, content=body, headers={"content-type": content_type})

    async with gateway_client(settings, handler) as client:
        response = await client.get("/posts", headers=bearer)

    assert response.status_code == 500
    if passed_through:
        assert response.content == body
    else:
        assert response.json() == {"detail": "Internal Server Error"}


async def test_unknown_routes_are_404_json(client, bearer):
    for path in ("/", "/nope", "/postsx", "/admin/", "/posts/%2E%2E/users/me"):
        response = await client.get(path, headers=bearer)

        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}


async def test_a_body_over_the_limit_is_413(client, services: FakeServices, bearer):
    response = await client.post("/posts", headers=bearer, content=b"x" * 1025)

    assert response.status_code == 413
    assert "detail" in response.json()
    assert services.service_requests("posts") == []


async def test_a_chunked_body_over_the_limit_is_413(client, services: FakeServices, bearer):
    async def chunks():
        for _ in range(20):
            yield b"x" * 100

    response = await client.post("/posts", headers=bearer, content=chunks())

    assert response.status_code == 413
    assert services.service_requests("posts") == []


async def test_a_body_at_the_limit_passes(client, services: FakeServices, bearer):
    response = await client.post("/posts", headers=bearer, content=b"x" * 1024)

    assert response.status_code == 200
    assert len(services.service_requests("posts")[-1].content) == 1024


async def test_a_down_service_is_503_and_the_others_still_answer(client, services: FakeServices, bearer):
    assert (await client.get("/posts", headers=bearer)).status_code == 200
    services.down.add("posts")

    down = await client.get("/posts", headers=bearer)
    up = await client.post("/vote", headers=bearer, json={"post_id": 1, "dir": 1})

    assert down.status_code == 503
    assert down.json() == {"detail": "The posts service is unavailable"}
    assert up.status_code == 200


@pytest.mark.parametrize(
    ("error", "status"),
    [(httpx.ReadTimeout("slow"), 503), (httpx.RemoteProtocolError("garbled"), 502)],
)
async def test_upstream_timeouts_and_protocol_errors(settings, services: FakeServices, bearer, error, status):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            return services.handle(request)
        raise error

    async with gateway_client(settings, handler) as client:
        response = await client.get("/posts", headers=bearer)

    assert response.status_code == status
    assert "posts service" in response.json()["detail"]
    assert "internal" not in response.text


async def test_replicas_take_turns_and_a_refusing_one_is_skipped(settings, services: FakeServices, bearer):
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            return services.handle(request)
        if request.url.host == "posts-c":
            raise httpx.ConnectError("refused", request=request)
        seen.append(request.url.host)
        return httpx.Response(200, json={})

    settings = settings.model_copy(update={"posts_url": "http://posts-a:8002,http://posts-b:8002,http://posts-c:8002"})
    async with gateway_client(settings, handler) as client:
        for _ in range(6):
            assert (await client.get("/posts", headers=bearer)).status_code == 200

    assert seen.count("posts-a") >= 2 and seen.count("posts-b") >= 2
    assert len(seen) == 6


async def test_the_request_id_is_echoed_and_forwarded(client, services: FakeServices, bearer):
    response = await client.get("/posts", headers={**bearer, "X-Request-ID": "client-id-42"})

    assert response.headers["x-request-id"] == "client-id-42"
    assert services.service_requests("posts")[-1].headers["x-request-id"] == "client-id-42"


async def test_a_request_id_is_generated_when_missing(client, services: FakeServices, bearer):
    response = await client.get("/posts", headers=bearer)

    generated = response.headers["x-request-id"]
    assert generated
    assert services.service_requests("posts")[-1].headers["x-request-id"] == generated


async def test_errors_carry_a_request_id_too(client):
    response = await client.get("/posts")

    assert response.status_code == 401
    assert response.headers["x-request-id"]


async def test_cors_preflight_for_a_configured_origin(client, services: FakeServices):
    response = await client.options(
        "/posts",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert services.requests == []


async def test_cors_refuses_other_origins(client):
    response = await client.options(
        "/posts", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_services_405_keeps_its_allow_header(settings, services: FakeServices, bearer):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/jwks.json":
            return services.handle(request)
        return httpx.Response(405, json={"detail": "Method Not Allowed"}, headers={"allow": "DELETE, GET, PUT"})

    async with gateway_client(settings, handler) as client:
        response = await client.patch("/posts/1", headers=bearer, json={})

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PUT"


async def test_a_method_the_gateway_does_not_forward_is_405_with_allow(client, bearer):
    response = await client.request("TRACE", "/posts/1", headers=bearer)
    assert response.status_code == 405
    assert response.headers["allow"]
    assert response.json() == {"detail": "Method Not Allowed"}
