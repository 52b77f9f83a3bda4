"""What comes in and goes out of the posts service."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from tally_shared.text import RefuseNul

# Not blank: at least one character that is not whitespace.
Title = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"\S"), RefuseNul]
Content = Annotated[str, StringConstraints(max_length=20_000), RefuseNul]
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


class PostReplica(BaseModel):
    """What the votes service needs to know of a post (internal route)."""

    id: int
    owner_id: int
    published: bool
    revision: int
