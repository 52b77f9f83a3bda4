"""The services' internal HTTP contracts, both sides of each: per serving service, the schemas
of its `/internal/` routes and the typed client other services call them through; and the
replica list and signed transport those clients (and the gateway) share."""

from tally_shared.internal.client import InternalClient, Replicas
from tally_shared.internal.posts import POST_REPLICA_ROUTE, PostReplica, PostsClient
from tally_shared.internal.votes import TALLIES_ROUTE, TalliesRequest, TalliesResponse, Tally, VotesClient

__all__ = [
    "POST_REPLICA_ROUTE",
    "TALLIES_ROUTE",
    "InternalClient",
    "PostReplica",
    "PostsClient",
    "Replicas",
    "TalliesRequest",
    "TalliesResponse",
    "Tally",
    "VotesClient",
]
