"""What comes in and goes out of the votes service."""

from typing import Annotated

from pydantic import BaseModel, Field

from tally_shared.inputs import IdInBody as PostId
from tally_shared.inputs import RefuseTextAndBooleans


class VoteIn(BaseModel):
    post_id: PostId
    # Not Literal[0, 1], which takes `true` for 1.
    dir: Annotated[int, Field(ge=0, le=1, description="1 adds the caller's vote, 0 removes it"), RefuseTextAndBooleans]


class VoteResult(BaseModel):
    message: str


class TalliesRequest(BaseModel):
    # Each post is locked for its recount: a bounded page keeps PostgreSQL's lock table small.
    post_ids: list[PostId] = Field(max_length=1_000)


class Tally(BaseModel):
    post_id: int
    votes: int
    count_epoch: int


class TalliesResponse(BaseModel):
    tallies: list[Tally]
