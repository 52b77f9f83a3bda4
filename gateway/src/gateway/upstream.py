"""The gateway's HTTP client to the services, behind a small interface of its own.

aiohttp, not httpx: proxying is all the gateway does, and on this project's
2-core machine httpx's client cost about 1.9 ms of CPU per request at 32
concurrent requests (0.7 ms even one at a time) against aiohttp's 0.07 ms;
it was two thirds of the gateway's time under `make bench` (py-spy). Tests
put a fake behind the same interface (`gateway_fakes.HandlerClient`).
"""

import json
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDictProxy

UPSTREAM_KEEPALIVE_SECONDS = 4.0


class UpstreamConnectError(Exception):
    """The connection was refused or could not be made: nothing reached the service."""


class UpstreamTimeoutError(Exception):
    """The service did not answer in time."""


class UpstreamError(Exception):
    """Anything else between the gateway and the service went wrong (a reset, a garbled answer)."""


@dataclass(frozen=True)
class UpstreamResponse:
    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class UpstreamClient(Protocol):
    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> UpstreamResponse: ...

    async def close(self) -> None: ...


class AiohttpUpstreamClient:
    def __init__(self, *, timeout: float, max_connections: int = 500, traced: bool = False) -> None:
        """`traced`: a client span per request, whose context the service's span continues (W3C headers)."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            # Idle connections are dropped before uvicorn's 5 s keep-alive closes them from its side:
            # a request sent on a connection the service is closing would be reset (a spurious 502).
            connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=UPSTREAM_KEEPALIVE_SECONDS),
            # The services' bytes and headers pass through as they are.
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding", "User-Agent"),
            trace_configs=_tracing() if traced else None,
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> UpstreamResponse:
        options: dict[str, Any] = {"timeout": aiohttp.ClientTimeout(total=timeout)} if timeout else {}
        try:
            async with self._session.request(
                method, url, data=body or None, headers=headers, allow_redirects=False, **options
            ) as response:
                return UpstreamResponse(response.status, response.headers, await response.read())
        except aiohttp.ClientConnectorError as error:
            raise UpstreamConnectError(str(error)) from error
        except TimeoutError as error:
            raise UpstreamTimeoutError(f"no answer from {url}") from error
        except aiohttp.ClientError as error:
            raise UpstreamError(repr(error)) from error

    async def close(self) -> None:
        await self._session.close()


def _tracing() -> list[aiohttp.TraceConfig]:
    # Imported only by a traced gateway: an untraced one does not load OpenTelemetry's instrumentation.
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    return [create_trace_config()]
