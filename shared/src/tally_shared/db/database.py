"""The engine of a process and the one unit of work through which every transaction commits.

Every request, event batch, relay batch and reconciliation page runs in
`Database.transaction()`: it begins when the block starts, commits when the
block ends, rolls back when the block raises, and in every case gives the
connection back to the pool, also when the task running it is cancelled
(a client that disconnected, a gateway that gave up, a shutdown). Nothing
else in Tally calls `commit()`.

Asyncio all the way down (SQLAlchemy's asyncio extension over asyncpg), so no
request waits for a thread to reach PostgreSQL. Synchronous code (Alembic,
dbsetup, tools) keeps using psycopg2 with the same URLs.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import Row, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import QueuePool

from tally_shared.settings import ServiceSettings

# A result row whose columns a query chose: typed by the query, not by a model class.
AnyRow = Row[*tuple[Any, ...]]

logger = logging.getLogger(__name__)

# SQLSTATEs that say "the database cannot do this right now", not "this request is wrong":
# a lock or statement timeout, a serialization failure or deadlock (retry), too many
# connections, a server shutting down or starting up, any connection failure (class 08).
_TRANSIENT_SQLSTATES = {"55P03", "57014", "40001", "40P01", "53300", "57P01", "57P02", "57P03", "25P03"}

# How long releasing a connection may take before it is terminated instead.
_RELEASE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class DatabaseLimits:
    """What bounds one process's use of PostgreSQL (`database_for` fills it from the `TALLY_DATABASE_*` settings)."""

    pool_size: int = 10
    # A bounded wait for a connection: past it the request answers 503 instead of queueing.
    pool_timeout_seconds: float = 5.0
    # PostgreSQL's own safety nets, set on every connection of the pool.
    statement_timeout_ms: int = 5_000
    lock_timeout_ms: int = 2_000
    idle_in_transaction_timeout_ms: int = 10_000
    connect_timeout_seconds: float = 5.0


def async_url(url: str | URL) -> URL:
    """The asyncio form of a service's database URL: psycopg2 (or no driver) becomes asyncpg;
    an asyncio driver named explicitly (`postgresql+psycopg`, `postgresql+asyncpg`) is kept."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
        return parsed.set(drivername="postgresql+asyncpg")
    return parsed


def _connect_args(url: URL, application_name: str, limits: DatabaseLimits) -> dict[str, Any]:
    server_settings = {
        "application_name": application_name,
        "statement_timeout": str(limits.statement_timeout_ms),
        "lock_timeout": str(limits.lock_timeout_ms),
        "idle_in_transaction_session_timeout": str(limits.idle_in_transaction_timeout_ms),
    }
    if url.get_driver_name() == "asyncpg":
        return {
            "server_settings": server_settings,
            "timeout": limits.connect_timeout_seconds,
            # Client side too: a server that stops answering (a cut network) must not hold a request forever.
            "command_timeout": limits.statement_timeout_ms / 1000 + 1,
        }
    options = " ".join(f"-c {name}={value}" for name, value in server_settings.items() if name != "application_name")
    return {
        "application_name": application_name,
        "options": options,
        "connect_timeout": max(1, round(limits.connect_timeout_seconds)),
    }


class Database:
    """Owns a process's engine and pool; `transaction()` is the only way to use them."""

    def __init__(self, url: str | URL, *, application_name: str, limits: DatabaseLimits = DatabaseLimits()) -> None:
        engine_url = async_url(url)
        self.limits = limits
        self.engine: AsyncEngine = create_async_engine(
            engine_url,
            pool_size=limits.pool_size,
            max_overflow=0,
            pool_timeout=limits.pool_timeout_seconds,
            # A connection left over from before a PostgreSQL restart is replaced at checkout,
            # so the first requests after an outage succeed instead of failing on it.
            pool_pre_ping=True,
            connect_args=_connect_args(engine_url, application_name, limits),
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # One slot per connection, handed out first come, first served: the pool's own queue
        # lets a newcomer take a connection that a long waiter was woken for, so under a
        # burst some requests would wait far longer than others, and time out.
        self._slots = asyncio.Semaphore(limits.pool_size)
        self.in_use = 0
        """Units of work holding a connection slot right now."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises or is cancelled.

        The commit, the rollback and the release of the connection run to completion
        even if the task is cancelled meanwhile; a release that cannot finish in time
        terminates the connection, so the pool never holds one mid-transaction.
        """
        try:
            async with asyncio.timeout(self.limits.pool_timeout_seconds):
                await self._slots.acquire()
                self.in_use += 1
        except TimeoutError:
            raise PoolTimeoutError(f"no database connection free within {self.limits.pool_timeout_seconds} s") from None
        session = self._sessions()
        try:
            yield session
            await run_to_completion(session.commit())
        except BaseException:
            await run_to_completion(_release(session, session.rollback))
            raise
        finally:
            try:
                await run_to_completion(_release(session, session.close))
            finally:
                self.in_use -= 1
                self._slots.release()

    async def is_reachable(self) -> bool:
        """Whether PostgreSQL answers within a second. A pool whose every connection is in use
        is serving requests: that is busy, not down, and readiness must not take it out of service."""
        if self._slots.locked():
            return True
        try:
            async with asyncio.timeout(1), self.transaction() as session:
                await session.execute(text("SELECT 1"))
        except PoolTimeoutError:
            return True
        except Exception:
            return False
        return True

    def connections_checked_out(self) -> int:
        """Connections out of the pool right now (the db_pool_connections_checked_out gauge)."""
        pool = self.engine.pool
        return pool.checkedout() if isinstance(pool, QueuePool) else 0

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _release(session: AsyncSession, step: Callable[[], Awaitable[None]]) -> None:
    """A rollback or close, bounded in time; a connection left in an unknown state (a query cut
    short, a server gone) is terminated instead of going back to the pool."""
    try:
        async with asyncio.timeout(_RELEASE_TIMEOUT_SECONDS):
            await step()
    except Exception as error:
        logger.debug("releasing the connection failed (%r); terminating it", error)
        await session.invalidate()


async def run_to_completion(operation: Awaitable[None]) -> None:
    """Awaits `operation` in a task of its own that no cancellation of the caller can interrupt.

    AnyIO's shield keeps a cancelled scope (Starlette's, a task group's) from
    re-delivering its cancellation meanwhile; asyncio's shield keeps a plain
    `Task.cancel()` (a timeout, a shutdown) from interrupting the operation.
    A caller cancelled meanwhile is still cancelled, once the operation is done.
    """
    task = asyncio.ensure_future(operation)
    cancelled = False
    with anyio.CancelScope(shield=True):
        while True:
            try:
                await asyncio.shield(task)
                break
            except asyncio.CancelledError:
                if task.done():
                    break
                cancelled = True
    if cancelled:
        raise asyncio.CancelledError()
    task.result()


def is_transient(error: BaseException) -> bool:
    """Whether `error` is PostgreSQL being unavailable, overloaded or restarting (worth a 503 or a
    retry), as opposed to a bug or a request the database refuses."""
    if isinstance(error, PoolTimeoutError | OSError | TimeoutError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    if sqlstate and (sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith("08")):
        return True
    cause = error.orig.__cause__ if error.orig is not None else None
    return isinstance(cause, OSError | TimeoutError) or type(error.orig).__name__ in {
        "InterfaceError",
        "OperationalError",
        "InternalClientError",
        "ConnectionDoesNotExistError",
    }


def database_for(settings: ServiceSettings, process_name: str, *, pool_size: int | None = None) -> Database:
    """The database of one of a service's processes, with the limits its settings give."""
    return Database(
        settings.database_url.get_secret_value(),
        application_name=process_name,
        limits=DatabaseLimits(
            pool_size=pool_size or settings.database_pool_size,
            pool_timeout_seconds=settings.database_pool_timeout,
            statement_timeout_ms=settings.database_statement_timeout_ms,
            lock_timeout_ms=settings.database_lock_timeout_ms,
            idle_in_transaction_timeout_ms=settings.database_idle_in_transaction_timeout_ms,
        ),
    )
