"""At most so many requests in flight: the next get a fast 503 with Retry-After, and the process
serves normally again the moment one finishes. Health, readiness and metrics are never shed."""

import asyncio

import httpx
from fastapi import FastAPI

from tally_shared.web import LoadSheddingMiddleware


def app_with_a_slow_route(release: asyncio.Event) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await release.wait()
        return {"status": "done"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    app.add_middleware(LoadSheddingMiddleware, limit=2)
    return app


async def test_past_the_limit_requests_are_shed_at_once_and_served_again_after():
    release = asyncio.Event()
    transport = httpx.ASGITransport(app=app_with_a_slow_route(release))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        await asyncio.sleep(0.1)

        shed = await asyncio.wait_for(client.get("/slow"), timeout=1)
        ready = await asyncio.wait_for(client.get("/readyz"), timeout=1)

        release.set()
        assert [response.status_code for response in await asyncio.gather(*held)] == [200, 200]
        again = await client.get("/slow")

    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "1"
    assert shed.json() == {"detail": "The service is busy, try again"}
    assert ready.status_code == 200
    assert again.status_code == 200
