"""The votes service's internal route, both sides of it: the schemas of a recount, and the typed
client the posts service's reconciliation calls it through."""

from pydantic import BaseModel, Field

from tally_shared.internal.client import InternalClient
from tally_shared.web.inputs import IdInBody

TALLIES_ROUTE = "/tallies"
# Each post is locked for its recount: a bounded page keeps PostgreSQL's lock table small.
MAX_TALLIES_PER_REQUEST = 1_000


class TalliesRequest(BaseModel):
    post_ids: list[IdInBody] = Field(max_length=MAX_TALLIES_PER_REQUEST)


class Tally(BaseModel):
    """A post's true vote count, counted from its votes at a new count epoch."""

    post_id: int
    votes: int
    count_epoch: int


class TalliesResponse(BaseModel):
    tallies: list[Tally]


class VotesClient(InternalClient):
    service = "votes"

    async def tallies(self, post_ids: list[int]) -> list[Tally]:
        """The true counts of the given live posts; a post the votes service does not know is left out."""
        response = await self.request("POST", TALLIES_ROUTE, json=TalliesRequest(post_ids=post_ids).model_dump())
        response.raise_for_status()
        return TalliesResponse.model_validate_json(response.content).tallies
