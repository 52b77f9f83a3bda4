"""Alembic's env.py, once: every service keeps its version table in its own schema."""

from alembic import context
from sqlalchemy import MetaData, create_engine, text


def run_migrations(metadata: MetaData, database_url: str) -> None:
    """Run the current Alembic command against the schema `metadata` targets."""
    schema = metadata.schema
    assert schema, "a service's metadata must name its schema"
    engine = create_engine(database_url)
    with engine.connect() as connection:
        # The schema itself is created by `tally-dbsetup` (it needs a superuser);
        # here it must already exist and belong to this service's role.
        connection.execute(text(f'SET search_path TO "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    engine.dispose()
