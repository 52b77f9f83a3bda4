import httpx
from pydantic import SecretStr

from posts.app import create_app


async def test_health_is_ok(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_database_and_broker_answer(client):
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_not_ready_when_the_broker_is_unreachable(settings):
    # Nothing listens on port 1: the check must say so instead of pretending.
    unreachable = SecretStr("amqp://guest:guest@127.0.0.1:1/")
    app = create_app(settings.model_copy(update={"amqp_url": unreachable}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://posts") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"


async def test_metrics_are_prometheus_text(client):
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in response.text


async def test_request_id_is_echoed_or_created(client):
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    created = await client.get("/healthz")
    assert len(created.headers["x-request-id"]) == 32
