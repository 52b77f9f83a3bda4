"""Calls from one service to another's internal routes.

Internal routes live under `/internal/` and are never routed by the gateway;
the caller proves it is a Tally service with `X-Tally-Service` and passes the
request id along, so one request can be followed across services in the logs.
"""

from typing import Any

import httpx

from tally_shared.identity import SERVICE_HEADER, sign_service
from tally_shared.observability import REQUEST_ID_HEADER, request_id_var
from tally_shared.settings import ServiceSettings


class ServiceUnavailableError(Exception):
    """The other service did not answer, or answered with an error of its own."""


class InternalClient:
    def __init__(self, base_url: str, settings: ServiceSettings, *, timeout: float = 3.0, transport=None) -> None:
        self._settings = settings
        self._client = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def request(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        """The response, for any status below 500; ServiceUnavailableError otherwise."""
        headers = {
            SERVICE_HEADER: sign_service(self._settings.service_name, self._settings.internal_secret.get_secret_value())
        }
        request_id = request_id_var.get()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        try:
            response = self._client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as error:
            raise ServiceUnavailableError(f"{method} {path}: {error!r}") from error
        if response.status_code >= 500:
            raise ServiceUnavailableError(f"{method} {path}: HTTP {response.status_code}")
        return response

    def close(self) -> None:
        self._client.close()
