"""Every SQL statement of the auth service."""

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import users
from tally_shared.database import AnyRow


async def add_user(session: AsyncSession, *, email: str, password_hash: str) -> AnyRow | None:
    """The new user, or None if the email is taken. ON CONFLICT on the case-insensitive unique
    index: a racing registration of the same email waits for the first, then inserts nothing."""
    result = await session.execute(
        insert(users)
        .values(email=email, password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=[func.lower(users.c.email)])
        .returning(users.c.id, users.c.email, users.c.created_at)
    )
    return result.first()


async def user_by_email(session: AsyncSession, email: str) -> AnyRow | None:
    # lower() on both sides, in PostgreSQL: the match is the unique index's, whatever the letters.
    result = await session.execute(select(users).where(func.lower(users.c.email) == func.lower(email)))
    return result.first()


async def user_by_id(session: AsyncSession, user_id: int) -> AnyRow | None:
    result = await session.execute(select(users.c.id, users.c.email, users.c.created_at).where(users.c.id == user_id))
    return result.first()


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))


async def delete_user(session: AsyncSession, user_id: int) -> bool:
    """False if there was no such user."""
    result = await session.execute(delete(users).where(users.c.id == user_id).returning(users.c.id))
    return result.first() is not None
