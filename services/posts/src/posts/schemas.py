"""What comes in and goes out of the posts service."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictBool, StringConstraints, field_validator

from tally_shared.web import NOT_BLANK, RefuseNul

# Not blank: at least one character that is not whitespace.
Title = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=NOT_BLANK), RefuseNul]
Content = Annotated[str, StringConstraints(max_length=20_000), RefuseNul]
# What PostgreSQL's bigint holds: a cursor made up by hand must not overflow a query parameter.
BigInt = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
# `search` of GET /posts: a substring of a title, so no longer than a title.
TitleSearch = Annotated[str, StringConstraints(max_length=300), RefuseNul]


class PostIn(BaseModel):
    """The body of create and update; `PUT` replaces the post, so an omitted `published` means true.

    Any other field (an `owner_id` or `id`, say) is ignored: the owner is the caller.
    """

    title: Title
    content: Content
    # Strict: pydantic would read 0 or "yes" as a boolean, which the schema does not admit.
    published: StrictBool = True


class Owner(BaseModel):
    id: int
    email: str
    created_at: datetime


class PostRead(BaseModel):
    id: int
    title: str
    content: str
    published: bool
    created_at: datetime
    owner_id: int
    owner: Owner


class PostWithVotes(BaseModel):
    """The tutorial's shape for reads: `{"Post": {...}, "votes": n}`."""

    post: PostRead = Field(alias="Post")
    votes: int


class NewCursor(BaseModel):
    """Where a `new` walk goes on: after this post, in (created_at, id) order, which never changes."""

    order: Literal["new"]
    created_at: AwareDatetime
    id: BigInt


class TopCursor(BaseModel):
    """Where a `top` walk goes on: after this post, ranked by its count as of `snapshot`, the
    PostgreSQL snapshot (`xmin:xmax:xip,...`) the walk's first page was read in."""

    order: Literal["top"]
    votes: BigInt
    created_at: AwareDatetime
    id: BigInt
    snapshot: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}:[0-9]{1,20}:([0-9]{1,20}(,[0-9]{1,20})*)?$")]
    started_at: AwareDatetime

    @field_validator("snapshot")
    @classmethod
    def _is_a_snapshot_postgresql_accepts(cls, snapshot: str) -> str:
        xmin, xmax, in_progress = snapshot.split(":")
        xids = [int(xmin), *(int(xid) for xid in in_progress.split(",") if xid), int(xmax)]
        if not (xids[0] > 0 and xids == sorted(xids) and xids[-1] < 2**63):
            raise ValueError("not a snapshot")
        return snapshot


# What a `cursor` query parameter holds, once decoded; clients see only an opaque string.
Cursor = Annotated[NewCursor | TopCursor, Field(discriminator="order")]
