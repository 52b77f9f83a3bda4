"""Every SQL statement of the auth service."""

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, extract, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import login_failures, users
from tally_shared.db import AnyRow


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


async def login_subjects(session: AsyncSession, *, email: str, client_address: str) -> tuple[bytes, bytes]:
    """What failed logins are counted under: the account (its email, lowered as the unique index
    lowers it, so no spelling of one email gets an allowance of its own) and the client address.
    Digests, so that a mistyped or probed email is not stored."""
    result = await session.execute(
        select(
            func.sha256(func.convert_to("account:" + func.lower(email), "UTF8")),
            func.sha256(func.convert_to("address:" + client_address, "UTF8")),
        )
    )
    account, address = result.one()
    return account, address


_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended('auth.login.' || encode(:subject, 'hex'), 0))")


async def try_lock_login(session: AsyncSession, subject: bytes) -> bool:
    """Whether no other login attempt on `subject` is in progress (it is then ours until commit)."""
    locked: bool = (await session.execute(_TRY_LOCK, {"subject": subject})).scalar_one()
    return locked


async def recent_failures(session: AsyncSession, subjects: Sequence[bytes], window: timedelta) -> Sequence[AnyRow]:
    """Per subject with failures in the last `window`: how many, and seconds since the latest
    (PostgreSQL's clock, the same for every replica)."""
    result = await session.execute(
        select(
            login_failures.c.subject,
            func.count().label("failures"),
            extract("epoch", func.now() - func.max(login_failures.c.failed_at)).label("seconds_since_last"),
        )
        .where(login_failures.c.subject.in_(subjects), login_failures.c.failed_at > func.now() - window)
        .group_by(login_failures.c.subject)
    )
    return result.all()


async def add_login_failure(session: AsyncSession, subjects: Sequence[bytes], window: timedelta) -> None:
    await session.execute(
        login_failures.insert().values(
            # The time the password was found wrong, not the transaction's start: the hash took a while.
            [
                {"subject": subject, "failed_at": func.clock_timestamp(), "expires_at": func.clock_timestamp() + window}
                for subject in subjects
            ]
        )
    )


async def forget_login_failures(session: AsyncSession, subject: bytes) -> None:
    await session.execute(delete(login_failures).where(login_failures.c.subject == subject))
