"""The one unit of work: cancelled at any point, it leaves no connection checked out or in a
transaction, and its effects are all there or none; PostgreSQL's own timeouts end what hangs."""

import asyncio
from collections.abc import Awaitable, Generator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tally_shared.db import Database, DatabaseLimits, is_transient

from .conftest import DATABASE_URL, applied, scalar

APPLICATION_NAME = "unit-of-work-tests"


class CancelledAtSuspension:
    """Awaits `work`, cancelling it at its `n`-th suspension and at every one after it, the way a
    cancelled AnyIO scope does (Starlette's, when a client disconnects): by cancelling the future
    it waits on there (or throwing CancelledError in at a bare yield)."""

    def __init__(self, work: Awaitable[Any], n: int) -> None:
        self._steps = work.__await__()
        self._n = n
        self.suspensions = 0

    def __await__(self) -> Generator[Any, Any, Any]:
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                yielded = self._steps.throw(to_throw) if to_throw is not None else self._steps.send(to_send)
            except StopIteration as done:
                return done.value
            self.suspensions += 1
            if self.suspensions >= self._n:
                if yielded is None:
                    to_send, to_throw = None, asyncio.CancelledError()
                    continue
                yielded.cancel()
            try:
                to_send, to_throw = (yield yielded), None
            except BaseException as error:
                to_send, to_throw = None, error


@pytest.fixture
async def database(schema: None):
    database = Database(DATABASE_URL, application_name=APPLICATION_NAME, limits=DatabaseLimits(pool_size=2))
    try:
        yield database
    finally:
        await database.dispose()


def sessions_of_this_test() -> dict[str, int]:
    """This test's server sessions by state, as PostgreSQL sees them (through a connection of its own)."""
    engine = create_engine(DATABASE_URL)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT state, count(*) FROM pg_stat_activity WHERE application_name = :name GROUP BY state"),
                {"name": APPLICATION_NAME},
            )
            return dict(rows.all())
    finally:
        engine.dispose()


async def two_inserts_and_a_read(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(applied.insert().values(user_id=1, times=1))
        await session.execute(text("SELECT pg_sleep(0.001)"))
        await session.execute(applied.insert().values(user_id=2, times=1))
        await session.execute(text("SELECT count(*) FROM backbone.applied"))


async def test_cancelled_at_every_await_point_it_releases_its_connection_and_commits_all_or_nothing(database):
    outcomes = []
    for n in range(1, 1000):
        await database.engine.dispose()  # every run starts by connecting: its await points too
        work = CancelledAtSuspension(two_inserts_and_a_read(database), n)
        try:
            await work
        except asyncio.CancelledError:
            outcomes.append("cancelled")
        else:
            outcomes.append("completed")
        assert database.engine.pool.checkedout() == 0, f"cancelled at await point {n}: a connection is checked out"
        assert database.in_use == 0, f"cancelled at await point {n}: a connection slot was not given back"
        states = sessions_of_this_test()
        assert not {state for state in states if state != "idle"}, f"cancelled at await point {n}: {states}"
        rows = await scalar(database, "SELECT count(*) FROM backbone.applied")
        assert rows in (0, 2), f"cancelled at await point {n}: {rows} of the 2 rows committed"
        async with database.transaction() as session:
            await session.execute(text("TRUNCATE backbone.applied"))
        if work.suspensions < n:
            break  # it finished before reaching the n-th await point: every point has been tried
    assert outcomes[-1] == "completed" and outcomes.count("cancelled") >= 10, outcomes
    # The pool still works normally afterwards.
    await two_inserts_and_a_read(database)
    assert await scalar(database, "SELECT count(*) FROM backbone.applied") == 2


async def test_an_error_inside_rolls_back_and_releases(database):
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await session.execute(applied.insert().values(user_id=3, times=1))
            raise RuntimeError("a bug in the request")
    assert database.engine.pool.checkedout() == 0
    assert await scalar(database, "SELECT count(*) FROM backbone.applied") == 0


async def test_postgresql_ends_a_lock_wait_and_a_long_statement_by_itself(schema):
    limits = DatabaseLimits(pool_size=2, lock_timeout_ms=200, statement_timeout_ms=300)
    database = Database(DATABASE_URL, application_name=APPLICATION_NAME, limits=limits)
    try:
        async with database.transaction() as holder:
            await holder.execute(text("SELECT pg_advisory_xact_lock(4242)"))
            with pytest.raises(Exception) as lock_wait:
                async with database.transaction() as waiter:
                    await waiter.execute(text("SELECT pg_advisory_xact_lock(4242)"))
            assert is_transient(lock_wait.value), lock_wait.value
        with pytest.raises(Exception) as long_statement:
            async with database.transaction() as session:
                await session.execute(text("SELECT pg_sleep(5)"))
        assert is_transient(long_statement.value), long_statement.value
        assert database.engine.pool.checkedout() == 0
    finally:
        await database.dispose()


async def test_postgresql_ends_a_transaction_left_idle(schema):
    database = Database(
        DATABASE_URL, application_name=APPLICATION_NAME, limits=DatabaseLimits(idle_in_transaction_timeout_ms=200)
    )
    try:
        with pytest.raises(Exception) as ended:
            async with database.transaction() as session:
                await session.execute(text("SELECT 1"))
                await asyncio.sleep(0.6)  # a stuck request: PostgreSQL closes its session
                await session.execute(text("SELECT 1"))
        assert is_transient(ended.value), ended.value
        assert database.engine.pool.checkedout() == 0
        assert await scalar(database, "SELECT 1") == 1  # the pool replaces the closed connection
    finally:
        await database.dispose()
