"""The headers that tell browsers how to treat the gateway's answers, on every kind of answer."""

import base64
import hashlib
import re

import pytest
from gateway_fakes import FakeServices, gateway_client


async def test_every_answer_is_nosniff_no_referrer_and_not_stored(client, bearer):
    answers = [
        await client.post("/login", data={"username": "a@b.c", "password": "x"}),  # a token
        await client.get("/users/me", headers=bearer),  # user data
        await client.get("/posts", headers=bearer),
        await client.get("/posts"),  # the gateway's own 401
        await client.get("/nowhere"),  # and its own 404
        await client.get("/healthz"),
        await client.get("/docs"),
    ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in answer.headers


async def test_the_swagger_ui_files_may_be_cached(client):
    answer = await client.get("/docs/assets/swagger-ui.css")
    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in answer.headers


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect"])
async def test_the_documentation_pages_run_only_the_gateways_own_scripts(client, path):
    answer = await client.get(path)
    policy = dict(directive.strip().split(" ", 1) for directive in answer.headers["content-security-policy"].split(";"))

    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    [inline_script] = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline_script.encode()).digest()).decode()
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
    for directive in ("style-src", "connect-src", "img-src"):
        assert "*" not in policy[directive] and "http" not in policy[directive]
    assert "content-security-policy" not in (await client.get("/healthz")).headers


async def test_hsts_when_configured(settings, services: FakeServices):
    async with gateway_client(settings.model_copy(update={"hsts_seconds": 31536000}), services.handle) as client:
        answer = await client.get("/healthz")
    assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
