"""Every SQL statement of the posts service."""

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from posts.models import users


def upsert_user(session: Session, *, user_id: int, email: str, created_at: datetime) -> None:
    session.execute(
        insert(users)
        .values(id=user_id, email=email, created_at=created_at)
        .on_conflict_do_update(index_elements=[users.c.id], set_={"email": email})
    )
