"""What comes in and goes out of the votes service."""

from typing import Annotated

from pydantic import BaseModel, Field

from tally_shared.web import IdInBody as PostId
from tally_shared.web import RefuseTextAndBooleans


class VoteIn(BaseModel):
    post_id: PostId
    # Not Literal[0, 1], which takes `true` for 1.
    dir: Annotated[int, Field(ge=0, le=1, description="1 adds the caller's vote, 0 removes it"), RefuseTextAndBooleans]


class VoteResult(BaseModel):
    message: str
