"""The posts service's internal route, both sides of it: the schema it answers with, and the typed
client the votes service calls it through."""

from pydantic import BaseModel

from tally_shared.internal.client import InternalClient

POST_REPLICA_ROUTE = "/posts/{id}"


class PostReplica(BaseModel):
    """What the votes service needs to know of a post its replica does not have yet."""

    id: int
    owner_id: int
    published: bool
    revision: int


class PostsClient(InternalClient):
    service = "posts"

    async def post_replica(self, post_id: int) -> PostReplica | None:
        """The post, or None if the posts service has no such post."""
        response = await self.request("GET", POST_REPLICA_ROUTE.format(id=post_id))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return PostReplica.model_validate_json(response.content)
