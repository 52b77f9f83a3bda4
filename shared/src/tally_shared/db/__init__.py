"""PostgreSQL: each process's engine and the one unit of work every transaction commits through,
Alembic's runner, the purge of expired rows, and the command-line setup and preflight checks.

`python -m tally_shared.db.setup` creates the roles, databases and schemas (it needs a
superuser); `python -m tally_shared.db.preflight` says what to start when PostgreSQL or
RabbitMQ is not there.
"""

from tally_shared.db.database import (
    AnyRow,
    Database,
    DatabaseLimits,
    async_url,
    database_for,
    is_transient,
    run_to_completion,
)
from tally_shared.db.expiry import keep_purging, purge_expired
from tally_shared.db.migrations import create_tables, run_migrations

__all__ = [
    "AnyRow",
    "Database",
    "DatabaseLimits",
    "async_url",
    "create_tables",
    "database_for",
    "is_transient",
    "keep_purging",
    "purge_expired",
    "run_migrations",
    "run_to_completion",
]
