"""Which service answers which public path, and which of the paths need no token."""

import itertools
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway.settings import GatewaySettings


@dataclass
class Upstream:
    """One service behind the gateway: its name and the base URLs of its replicas."""

    name: str
    urls: tuple[str, ...]
    _turn: "itertools.count[int]" = field(default_factory=itertools.count, repr=False)

    @classmethod
    def from_setting(cls, name: str, value: str) -> "Upstream":
        return cls(name, tuple(url.strip().rstrip("/") for url in value.split(",") if url.strip()))

    def replicas_in_turn(self) -> list[str]:
        """Every replica, starting with the next one in round-robin order."""
        start = next(self._turn) % len(self.urls)
        return [*self.urls[start:], *self.urls[:start]]

    @property
    def netlocs(self) -> set[str]:
        return {urlsplit(url).netloc for url in self.urls}


def upstreams_from(settings: GatewaySettings) -> dict[str, Upstream]:
    return {
        "auth": Upstream.from_setting("auth", settings.auth_url),
        "posts": Upstream.from_setting("posts", settings.posts_url),
        "votes": Upstream.from_setting("votes", settings.votes_url),
    }


# Path prefixes: the prefix itself and everything below it.
PREFIX_ROUTES = {"/users": "auth", "/posts": "posts", "/vote": "votes"}
# Single paths.
EXACT_ROUTES = {"/login": "auth", "/.well-known/jwks.json": "auth"}

# (method, path) pairs anyone may call; every other proxied route needs a valid token.
PUBLIC_ROUTES = frozenset(
    {
        ("POST", "/users"),
        ("POST", "/login"),
        ("GET", "/.well-known/jwks.json"),
        ("HEAD", "/.well-known/jwks.json"),
    }
)


def normalize_path(path: str) -> str:
    """The path without its trailing slash: `/posts/` and `/posts` are the same route."""
    stripped = path.rstrip("/")
    return stripped or "/"


def service_for(path: str) -> str | None:
    """The name of the service that answers `path` (already normalized), or None."""
    if path in EXACT_ROUTES:
        return EXACT_ROUTES[path]
    for prefix, service in PREFIX_ROUTES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


def is_public(method: str, path: str) -> bool:
    return (method.upper(), path) in PUBLIC_ROUTES
