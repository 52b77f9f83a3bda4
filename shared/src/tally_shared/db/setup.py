"""Create what the services' migrations need: databases, one login role and one schema per service.

Each role owns its own schema and is granted nothing else, so PostgreSQL itself
refuses a query from one service into another's tables. The one exception is
the extensions a service's migrations need: only a superuser may create them,
so this creates them, in the schema `extensions` of their own, and grants their
service's role USAGE on that schema (not on anyone's tables).

    python -m tally_shared.db.setup auth=postgresql+psycopg2://tally_auth:pw@host/tally posts=...
    python -m tally_shared.db.setup --drop auth=...   # drop the databases (tests)

It connects with TALLY_ADMIN_DATABASE_URL (a superuser; default: postgres on
127.0.0.1) and is safe to run again.
"""

import argparse
import os
import sys

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
EXTENSIONS_SCHEMA = "extensions"
# posts: pg_trgm, whose GIN index serves the feed's substring search.
EXTENSIONS_BY_SCHEMA = {"posts": ("pg_trgm",)}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _role_and_database(schema: str, url: URL) -> tuple[str, str]:
    if not url.username or not url.database:
        raise ValueError(f"the URL of {schema} must name a role and a database: {url.render_as_string()}")
    return url.username, url.database


def prepare(admin_url: URL, services: dict[str, URL]) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for schema, url in services.items():
            role, _ = _role_and_database(schema, url)
            exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
            verb = "ALTER" if exists else "CREATE"
            connection.execute(
                text(f"{verb} ROLE {_quote(role)} LOGIN PASSWORD :password"),
                {"password": url.password or role},
            )
            connection.execute(text(f"ALTER ROLE {_quote(role)} SET search_path TO {_quote(schema)}"))
        for database in sorted({_role_and_database(schema, url)[1] for schema, url in services.items()}):
            if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).first():
                connection.execute(text(f"CREATE DATABASE {_quote(database)}"))
                print(f"created database {database}")
    admin.dispose()

    for schema, url in services.items():
        role_name, database_name = _role_and_database(schema, url)
        role = _quote(role_name)
        engine = create_engine(admin_url.set(database=database_name), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f"REVOKE ALL ON DATABASE {_quote(database_name)} FROM PUBLIC"))
            connection.execute(text(f"GRANT CONNECT ON DATABASE {_quote(database_name)} TO {role}"))
            connection.execute(text("REVOKE ALL ON SCHEMA public FROM PUBLIC"))
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)} AUTHORIZATION {role}"))
            connection.execute(text(f"ALTER SCHEMA {_quote(schema)} OWNER TO {role}"))
            connection.execute(text(f"REVOKE ALL ON SCHEMA {_quote(schema)} FROM PUBLIC"))
            _create_extensions(connection, EXTENSIONS_BY_SCHEMA.get(schema, ()), role)
        engine.dispose()
        print(f"database {database_name}: schema {schema} owned by role {role_name}")


def _create_extensions(connection: Connection, extensions: tuple[str, ...], role: str) -> None:
    if not extensions:
        return
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {EXTENSIONS_SCHEMA}"))
    connection.execute(text(f"REVOKE ALL ON SCHEMA {EXTENSIONS_SCHEMA} FROM PUBLIC"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA {EXTENSIONS_SCHEMA} TO {role}"))
    for extension in extensions:
        connection.execute(text(f"CREATE EXTENSION IF NOT EXISTS {_quote(extension)} SCHEMA {EXTENSIONS_SCHEMA}"))


def drop(admin_url: URL, services: dict[str, URL]) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for database in sorted({_role_and_database(schema, url)[1] for schema, url in services.items()}):
            connection.execute(text(f"DROP DATABASE IF EXISTS {_quote(database)} WITH (FORCE)"))
            print(f"dropped database {database}")
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drop", action="store_true", help="drop the databases instead")
    parser.add_argument("services", nargs="+", metavar="SCHEMA=DATABASE_URL")
    args = parser.parse_args(argv)
    services: dict[str, URL] = {}
    for pair in args.services:
        schema, _, url = pair.partition("=")
        services[schema] = make_url(url)
    admin_url = make_url(os.environ.get("TALLY_ADMIN_DATABASE_URL", DEFAULT_ADMIN_URL))
    try:
        (drop if args.drop else prepare)(admin_url, services)
    except Exception as error:
        print(
            f"tally dbsetup: cannot prepare PostgreSQL at {admin_url.render_as_string()}: {str(error).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
