"""Alembic's env.py, once: every service keeps its version table in its own schema; and
`create_tables`, the migration step that creates the tables every service has alike."""

from alembic import context, op
from sqlalchemy import MetaData, Table, create_engine, text
from sqlalchemy.schema import SchemaItem


def _not_alembic_version(
    obj: SchemaItem, name: str | None, type_: str, reflected: bool, compare_to: SchemaItem | None
) -> bool:
    # Alembic's own table is in the schema too; autogenerate must not drop it.
    return not (type_ == "table" and name == "alembic_version")


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
            include_object=_not_alembic_version,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    engine.dispose()


def create_tables(*tables: Table) -> None:
    """In a migration, create tables every event-driven service has (outbox, inbox, idempotency
    keys) from their one definition, indexes included:

        create_tables(outbox_table(MetaData(schema="posts")))

    Should one of those definitions ever change, keep its current form here first (as
    `outbox_table_v1`, say) for the migrations already written, and add a migration that
    alters the table in each service: a migration must create the same thing forever.
    """
    bind = op.get_bind()
    for table in tables:
        table.create(bind, checkfirst=False)
