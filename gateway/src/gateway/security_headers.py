"""The headers that tell browsers how to treat the gateway's answers.

- `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` on every answer.
- `Cache-Control: no-store` on every answer but the Swagger UI's static files: tokens,
  user data and drafts must stay out of shared and browser caches.
- On `/docs` and its OAuth2 redirect page, a Content-Security-Policy that lets the page
  load scripts, styles, images and data from the gateway only, and run no inline script
  but the one each page is built with (allowed by its SHA-256).
- `Strict-Transport-Security` when `GATEWAY_HSTS_SECONDS` says clients reach the gateway
  over HTTPS only.
"""

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def page_policy(html: str) -> str:
    """The Content-Security-Policy of a page of the gateway's own, whose inline scripts are in `html`."""
    script_hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {script_hashes}; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class SecurityHeadersMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        page_policies: dict[str, str],
        cacheable_prefix: str,
        hsts_seconds: int = 0,
    ) -> None:
        self.app = app
        self.page_policies = page_policies
        self.cacheable_prefix = cacheable_prefix
        self.hsts = f"max-age={hsts_seconds}; includeSubDomains" if hsts_seconds else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                if not path.startswith(self.cacheable_prefix + "/"):
                    headers["Cache-Control"] = "no-store"
                if path in self.page_policies:
                    headers["Content-Security-Policy"] = self.page_policies[path]
                if self.hsts:
                    headers["Strict-Transport-Security"] = self.hsts
            await send(message)

        await self.app(scope, receive, send_with_headers)
