"""The gateway against fake services: a handler (an `httpx.Request` in, an `httpx.Response` out,
or an httpx network error raised) behind the gateway's upstream client interface.

The fake auth service publishes a JWKS of Ed25519 keys generated here, so the
tests sign tokens exactly as the real auth service would.
"""

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.upstream import UpstreamConnectError, UpstreamError, UpstreamResponse, UpstreamTimeoutError

SECRET = "gateway-test-internal-secret-of-32-bytes-or-more"
ISSUER = "tally-auth"
AUDIENCE = "tally"
HOSTS = {"auth.internal:8001": "auth", "posts.internal:8002": "posts", "votes.internal:8003": "votes"}


class FakeClock:
    """A monotonic clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def token(self, user_id: int = 7, email: str = "ada@example.com", **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "user_id": user_id,
            "email": email,
            "iat": now,
            "exp": now + 1800,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": "test-jti",
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})


@dataclass
class FakeServices:
    """What the three services answer; records every request that reaches them."""

    keys: list[SigningKey]
    requests: list[httpx.Request] = field(default_factory=list)
    jwks_fetches: int = 0
    down: set[str] = field(default_factory=set)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def service_requests(self, service: str) -> list[httpx.Request]:
        return [
            request
            for request in self.requests
            if HOSTS[request.url.netloc.decode()] == service
            and request.url.path not in ("/.well-known/jwks.json", "/openapi.json")
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        service = HOSTS[request.url.netloc.decode()]
        if service in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.requests.append(request)
        path = request.url.path
        if path == "/readyz":
            return httpx.Response(200, json={"status": "ready"})
        if path == "/openapi.json":
            return httpx.Response(200, json=self.documents[service])
        if service == "auth" and path == "/.well-known/jwks.json":
            self.jwks_fetches += 1
            return httpx.Response(200, json={"keys": [key.jwk for key in self.keys]})
        return httpx.Response(
            200,
            json={"service": service, "path": path, "query": request.url.query.decode()},
            headers={"x-upstream": service},
        )


class HandlerClient:
    """The gateway's `UpstreamClient`, answered by `handler` instead of the network; httpx's
    network errors raised by the handler become the interface's own."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self._handler = handler

    async def request(
        self, method: str, url: str, *, body: bytes = b"", headers: dict[str, str] | None = None, timeout=None
    ) -> UpstreamResponse:
        request = httpx.Request(method, url, content=body, headers=headers)
        try:
            response = self._handler(request)
        except httpx.ConnectError as error:
            raise UpstreamConnectError(str(error)) from error
        except httpx.TimeoutException as error:
            raise UpstreamTimeoutError(str(error)) from error
        except httpx.HTTPError as error:
            raise UpstreamError(repr(error)) from error
        return UpstreamResponse(
            response.status_code, CIMultiDictProxy(CIMultiDict(response.headers.multi_items())), response.read()
        )

    async def close(self) -> None:
        pass


@asynccontextmanager
async def gateway_client(
    settings: GatewaySettings, handler: Callable[[httpx.Request], httpx.Response]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a running gateway (lifespan included) whose services answer with `handler`."""
    app = create_app(settings, upstream_client=HandlerClient(handler))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield client
