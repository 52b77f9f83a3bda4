"""Forwarding a client's request to a service, and the service's answer back to the client."""

import json
import logging
from http import HTTPStatus

from fastapi import Request, Response
from starlette.datastructures import Headers

from gateway.errors import BadGatewayError, PayloadTooLargeError
from gateway.upstream import (
    UpstreamClient,
    UpstreamConnectError,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeoutError,
)
from tally_shared.internal import Replicas
from tally_shared.web import ServiceUnavailableError

logger = logging.getLogger(__name__)

FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "accept-language", "idempotency-key")
RETURNED_RESPONSE_HEADERS = ("content-type", "www-authenticate", "retry-after", "allow", "idempotent-replayed")


def _is_path(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it is known to be over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError()
    return bytes(body)


def upstream_request_headers(client_headers: Headers, extra: dict[str, str]) -> dict[str, str]:
    """Only what the service needs: never the client's Authorization or any identity claim."""
    headers = {name: client_headers[name] for name in FORWARDED_REQUEST_HEADERS if name in client_headers}
    headers.update(extra)
    return headers


class Proxy:
    def __init__(self, client: UpstreamClient, upstreams: dict[str, Replicas]) -> None:
        self._client = client
        self._upstreams = upstreams
        self._internal_netlocs = {netloc.encode() for upstream in upstreams.values() for netloc in upstream.netlocs}

    async def forward(
        self, service: str, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> Response:
        upstream = self._upstreams[service]
        target = path + (f"?{query}" if query else "")
        replicas = upstream.in_turn()
        for attempt, base_url in enumerate(replicas, start=1):
            try:
                answer = await self._client.request(method, base_url + target, body=body, headers=headers)
            except UpstreamConnectError:
                # Nothing reached the service, so another replica may safely get the request.
                logger.warning("%s replica %d/%d refused the connection", service, attempt, len(replicas))
                continue
            except UpstreamTimeoutError as error:
                logger.warning("%s did not answer %s %s in time: %r", service, method, path, error)
                raise ServiceUnavailableError(service) from error
            except UpstreamError as error:
                logger.warning("%s failed on %s %s: %s", service, method, path, error)
                raise BadGatewayError(service) from error
            return self._client_response(service, answer)
        raise ServiceUnavailableError(service)

    def _client_response(self, service: str, answer: UpstreamResponse) -> Response:
        headers = {name: answer.headers[name] for name in RETURNED_RESPONSE_HEADERS if name in answer.headers}
        # Both name a URL on this gateway; only a path is passed on, so no internal host leaks.
        location = answer.headers.get("location")
        if location and _is_path(location):
            headers["location"] = location
        link = answer.headers.get("link")
        if link and link.startswith("<") and _is_path(link[1:]):
            headers["link"] = link
        content = answer.content
        if answer.status_code >= 400 and not self._is_safe_error(answer):
            logger.warning("%s answered %d with a body not fit for clients; replaced", service, answer.status_code)
            content = json.dumps({"detail": _phrase(answer.status_code)}).encode()
            headers["content-type"] = "application/json"
        return Response(content=content, status_code=answer.status_code, headers=headers)

    def _is_safe_error(self, answer: UpstreamResponse) -> bool:
        """Whether an error body may reach the client: no internal host, and for 5xx only `{"detail": ...}`."""
        if any(netloc in answer.content for netloc in self._internal_netlocs):
            return False
        if answer.status_code < 500:
            return True
        try:
            payload = answer.json()
        except ValueError:
            return False
        return isinstance(payload, dict) and "detail" in payload and "traceback" not in answer.text.lower()


def _phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"
