"""a trigram index for the feed's title search

Revision ID: 0004
Revises: 0003

`search` is a case-insensitive substring (ILIKE '%...%'), which no btree can serve;
pg_trgm's GIN index serves it for any word of three characters or more, rare or
common. The extension lives in the schema `extensions`, created by the database
setup (dbsetup, or the Kubernetes cluster's bootstrap SQL): a service role cannot
create an extension.
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute("CREATE INDEX ix_posts_title_trgm ON posts.posts USING gin (title extensions.gin_trgm_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX posts.ix_posts_title_trgm")
