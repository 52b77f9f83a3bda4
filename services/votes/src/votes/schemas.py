"""What comes in and goes out of the votes service."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

PostId = Annotated[int, Field(gt=0, le=2**63 - 1)]


class VoteIn(BaseModel):
    post_id: PostId
    dir: Literal[0, 1] = Field(description="1 adds the caller's vote, 0 removes it")


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
