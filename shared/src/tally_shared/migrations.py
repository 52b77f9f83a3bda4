"""Alembic's env.py, once: every service keeps its version table in its own schema.

Also the DDL of the tables every event-driven service has (outbox, inbox, idempotency keys), as
migration steps, so each service's migration creates them the same way.
"""

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.dialects import postgresql
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


def create_outbox_table(schema: str) -> None:
    """The table of `tally_shared.outbox.outbox_table`, as first defined."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("envelope", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text),
        schema=schema,
    )
    op.execute(f'CREATE INDEX ix_outbox_pending ON "{schema}".outbox (id) WHERE published_at IS NULL')


def create_inbox_table(schema: str) -> None:
    """The table of `tally_shared.consumer.inbox_table`, as first defined."""
    op.create_table(
        "inbox",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )


def create_idempotency_keys_table(schema: str) -> None:
    """The table of `tally_shared.idempotency.idempotency_keys_table`, as first defined."""
    op.create_table(
        "idempotency_keys",
        sa.Column("caller_id", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.LargeBinary, nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], schema=schema)
