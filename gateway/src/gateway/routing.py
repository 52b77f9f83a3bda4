"""Which service answers which public path, and which of the paths need no token."""

from gateway.settings import GatewaySettings
from tally_shared.internal import Replicas


def upstreams_from(settings: GatewaySettings) -> dict[str, Replicas]:
    """The replicas of each service behind the gateway, by name."""
    return {
        "auth": Replicas.from_setting("auth", settings.auth_url),
        "posts": Replicas.from_setting("posts", settings.posts_url),
        "votes": Replicas.from_setting("votes", settings.votes_url),
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
