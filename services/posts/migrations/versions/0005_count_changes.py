"""a journal of recent count changes, for `top` cursors

Revision ID: 0005
Revises: 0004

Each change of a post's vote count is recorded with the id of the transaction
that made it, so a page of a `top` walk can order posts by their counts as of
the snapshot the walk started in (docs/pagination.md). Rows are pruned once
older than a cursor's lifetime.
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute(
        "CREATE TABLE posts.count_changes ("
        " post_id bigint NOT NULL,"
        " delta integer NOT NULL,"
        " xid xid8 NOT NULL DEFAULT pg_current_xact_id(),"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    op.execute("CREATE INDEX ix_count_changes_xid ON posts.count_changes (xid) INCLUDE (post_id, delta)")
    op.execute("CREATE INDEX ix_count_changes_applied_at ON posts.count_changes (applied_at)")


def downgrade() -> None:
    op.drop_table("count_changes", schema="posts")
