"""Health, readiness and metrics of the gateway itself."""

from gateway_fakes import FakeServices


async def test_healthz_needs_nothing(client, services: FakeServices):
    services.down.update({"auth", "posts", "votes"})

    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_when_every_service_is(client):
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"auth": "ok", "posts": "ok", "votes": "ok", "revocations": "ok"},
    }


async def test_readyz_names_the_service_that_is_not_ready(client, services: FakeServices):
    services.down.add("votes")

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "checks": {"auth": "ok", "posts": "ok", "votes": "unavailable", "revocations": "ok"},
    }


async def test_metrics_count_proxied_requests(client, bearer):
    await client.get("/posts", headers=bearer)

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{method="GET",route="/posts",status="200"}' in response.text
