"""vote events carry deltas: no count on the post replica, no foreign key on votes, a count epoch

Revision ID: 0002
Revises: 0001

Counts now live only in the posts service, summed from per-vote events. Drain
the votes outbox and the posts worker's queue before upgrading (or run
`make reconcile` afterwards): the count-carrying events of 0001 are not read.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.drop_constraint("votes_post_id_fkey", "votes", schema="votes", type_="foreignkey")
    op.drop_column("posts", "votes", schema="votes")
    op.drop_column("posts", "votes_version", schema="votes")
    op.add_column("posts", sa.Column("count_epoch", sa.BigInteger, nullable=False, server_default="0"), schema="votes")


def downgrade() -> None:
    op.drop_column("posts", "count_epoch", schema="votes")
    op.add_column("posts", sa.Column("votes_version", sa.BigInteger, nullable=False, server_default="0"), schema="votes")
    op.add_column("posts", sa.Column("votes", sa.Integer, nullable=False, server_default="0"), schema="votes")
    op.execute(
        "UPDATE votes.posts AS p SET votes = c.n FROM"
        " (SELECT post_id, count(*) AS n FROM votes.votes GROUP BY post_id) AS c WHERE c.post_id = p.id"
    )
    op.create_foreign_key("votes_post_id_fkey", "votes", "posts", ["post_id"], ["id"], source_schema="votes", referent_schema="votes")
