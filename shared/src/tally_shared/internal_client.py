"""Calls from one service to another's internal routes.

Internal routes live under `/internal/` and are never routed by the gateway;
the caller proves it is a Tally service with `X-Tally-Service` and passes the
request id along, so one request can be followed across services in the logs.
"""

import itertools
from typing import Any

import httpx

from tally_shared.identity import SERVICE_HEADER, sign_service
from tally_shared.observability import REQUEST_ID_HEADER, request_id_var
from tally_shared.settings import ServiceSettings


class ServiceUnavailableError(Exception):
    """The other service did not answer, or answered with an error of its own."""


class InternalClient:
    """A client of one service; `base_urls` may list replicas, separated by commas, tried in turn
    when one refuses the connection (as the gateway does)."""

    def __init__(
        self,
        base_urls: str,
        settings: ServiceSettings,
        *,
        timeout: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._base_urls = [url.strip().rstrip("/") for url in base_urls.split(",") if url.strip()]
        self._turn = itertools.count()
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def request(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        """The response, for any status below 500; ServiceUnavailableError otherwise."""
        headers = {
            SERVICE_HEADER: sign_service(self._settings.service_name, self._settings.internal_secret.get_secret_value())
        }
        request_id = request_id_var.get()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        start = next(self._turn) % len(self._base_urls)
        for base_url in self._base_urls[start:] + self._base_urls[:start]:
            try:
                response = await self._client.request(method, base_url + path, json=json, headers=headers)
                break
            except httpx.ConnectError as error:
                last_error = error  # nothing reached this replica: the next may take the request
            except httpx.HTTPError as error:
                raise ServiceUnavailableError(f"{method} {path}: {error!r}") from error
        else:
            raise ServiceUnavailableError(f"{method} {path}: {last_error!r}")
        if response.status_code >= 500:
            raise ServiceUnavailableError(f"{method} {path}: HTTP {response.status_code}")
        return response

    async def close(self) -> None:
        await self._client.aclose()
