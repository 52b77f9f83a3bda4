"""Every SQL statement of the auth service."""

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth.models import EMAIL_INDEX, users


class DuplicateEmailError(Exception):
    pass


def add_user(session: Session, *, email: str, password_hash: str) -> Row:
    try:
        with session.begin_nested():
            return session.execute(
                insert(users)
                .values(email=email, password_hash=password_hash)
                .returning(users.c.id, users.c.email, users.c.created_at)
            ).one()
    except IntegrityError as error:
        if getattr(getattr(error.orig, "diag", None), "constraint_name", None) != EMAIL_INDEX:
            raise
        raise DuplicateEmailError(email) from error


def user_by_email(session: Session, email: str) -> Row | None:
    # lower() on both sides, in PostgreSQL: the match is the unique index's, whatever the letters.
    return session.execute(select(users).where(func.lower(users.c.email) == func.lower(email))).first()


def user_by_id(session: Session, user_id: int) -> Row | None:
    return session.execute(select(users.c.id, users.c.email, users.c.created_at).where(users.c.id == user_id)).first()


def set_password_hash(session: Session, user_id: int, password_hash: str) -> None:
    session.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))


def delete_user(session: Session, user_id: int) -> bool:
    """False if there was no such user."""
    return session.execute(delete(users).where(users.c.id == user_id).returning(users.c.id)).first() is not None
