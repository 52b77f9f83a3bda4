"""How one Tally process reaches another's replicas: their URLs in turn, and a signed call.

Internal routes live under `/internal/` and are never routed by the gateway;
the caller proves it is a Tally service with `X-Tally-Service` and passes the
request id along, so one request can be followed across services in the logs.
"""

import itertools
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from tally_shared.settings import ServiceSettings
from tally_shared.telemetry.logs import REQUEST_ID_HEADER, request_id_var
from tally_shared.web.dependencies import INTERNAL_PREFIX
from tally_shared.web.errors import ServiceUnavailableError
from tally_shared.web.identity import SERVICE_HEADER, sign_service


@dataclass
class Replicas:
    """The base URLs of one service's replicas, taken in round-robin order."""

    service: str
    urls: tuple[str, ...]
    _turn: "itertools.count[int]" = field(default_factory=itertools.count, repr=False)

    @classmethod
    def from_setting(cls, service: str, value: str) -> "Replicas":
        """From a setting that lists the base URLs separated by commas."""
        urls = tuple(url.strip().rstrip("/") for url in value.split(",") if url.strip())
        if not urls:
            raise ValueError(f"no URL given for the {service} service")
        return cls(service, urls)

    def in_turn(self) -> list[str]:
        """Every replica, starting with the next one in round-robin order."""
        start = next(self._turn) % len(self.urls)
        return [*self.urls[start:], *self.urls[:start]]

    @property
    def netlocs(self) -> set[str]:
        return {urlsplit(url).netloc for url in self.urls}


class InternalClient:
    """The transport of a typed client of one service's internal routes (`PostsClient`,
    `VotesClient`): replicas tried in turn when one refuses the connection, as the gateway does."""

    service: ClassVar[str]

    def __init__(
        self,
        base_urls: str,
        settings: ServiceSettings,
        *,
        timeout: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._replicas = Replicas.from_setting(self.service, base_urls)
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def request(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        """The response of `path` under `/internal`, for any status below 500;
        `ServiceUnavailableError` (a 503 where it reaches a client) otherwise."""
        headers = {
            SERVICE_HEADER: sign_service(self._settings.service_name, self._settings.internal_secret.get_secret_value())
        }
        request_id = request_id_var.get()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        url_path = INTERNAL_PREFIX + path
        for base_url in self._replicas.in_turn():
            try:
                response = await self._client.request(method, base_url + url_path, json=json, headers=headers)
                break
            except httpx.ConnectError as error:
                last_error = error  # nothing reached this replica: the next may take the request
            except httpx.HTTPError as error:
                raise ServiceUnavailableError(self.service, f"{method} {url_path}: {error!r}") from error
        else:
            raise ServiceUnavailableError(self.service, f"{method} {url_path}: {last_error!r}")
        if response.status_code >= 500:
            raise ServiceUnavailableError(self.service, f"{method} {url_path}: HTTP {response.status_code}")
        return response

    async def close(self) -> None:
        await self._client.aclose()
