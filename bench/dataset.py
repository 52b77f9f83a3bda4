"""The benchmark's data: a database of its own, then users, posts and skewed votes bulk-loaded with COPY.

Each service's rows are written through that service's own role into its own
schema, exactly where the services themselves would have put them, with the
denormalised counts and their versions consistent on both sides (as if every
vote event had been applied), so the stack starts in a steady state.
"""

import contextlib
import io
import itertools
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

import psycopg2
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

from bench.config import MIGRATED, BenchConfig, database_url
from tally_shared.db import setup as dbsetup

# Every user has this password; its Argon2 hash is computed once and shared.
PASSWORD = "bench-password-1"
# Titles and contents are made of these words, so a search for one of them finds some posts.
VOCABULARY = (  # noqa: SIM905 (a paragraph reads better than a hundred quoted words)
    "garden coffee python music river winter summer bicycle mountain kitchen bread guitar "
    "library market ocean forest city train window letter camera planet rocket engine "
    "sandwich recipe history science football chess painting theatre festival harbour island "
    "village bridge castle desert valley storm thunder sunrise sunset morning evening night "
    "question answer story journey friend family teacher student doctor artist writer farmer "
    "apple orange lemon cherry tomato potato pepper cheese butter honey pizza noodle soup "
    "server database network browser keyboard laptop phone screen signal battery cloud "
    "review update release launch meetup workshop podcast video photo poster map ticket"
).split()
SEARCH_WORDS = ("python", "garden", "coffee", "music", "rocket", "cheese", "storm", "chess")
# Words in no title (none is in the vocabulary): a search for one finds nothing, the worst case
# for a scan, which reads every post.
RARE_WORDS = ("xylophone", "zeppelin", "quokka", "fjord", "walrus", "kazoo", "yodel", "jigsaw")
COPY_CHUNK_ROWS = 50_000


def email(user_id: int) -> str:
    return f"bench-{user_id:05d}@example.com"


def _dsn(component: str) -> str:
    return make_url(database_url(component)).set(drivername="postgresql").render_as_string(hide_password=False)


def _timestamp(moment: datetime) -> str:
    return moment.isoformat()


# ---- the database ----


def recreate_database() -> None:
    """Drop `tally_bench`, create it again with its roles and schemas, and migrate every schema."""
    admin_url = make_url(os.environ.get("TALLY_ADMIN_DATABASE_URL", dbsetup.DEFAULT_ADMIN_URL))
    urls = {component: make_url(database_url(component)) for component in MIGRATED}
    with contextlib.redirect_stdout(io.StringIO()):  # its lines say nothing a bench reader needs
        dbsetup.drop(admin_url, urls)
        dbsetup.prepare(admin_url, urls)
    env = {**os.environ, **{f"{c.upper()}_DATABASE_URL": database_url(c) for c in MIGRATED}}
    for directory in MIGRATED.values():
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=directory,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


# ---- what is loaded ----


def zipf_vote_counts(*, posts: int, total: int, cap: int, rng: random.Random) -> list[int]:
    """Votes per post (index 0 is post 1), summing to exactly `total`, none over `cap`.

    The post of popularity rank r gets about min(cap, C / r) votes (Zipf, exponent 1),
    with C chosen so the counts add up: a few posts get hundreds, most get a handful.
    Ranks are shuffled over the posts, so popular posts are of every age and owner.
    """
    total = min(total, posts * cap)
    # Prefix sums of 1/r, so the (uncapped tail of the) sum for a given C is O(1).
    harmonic = list(itertools.accumulate((1 / rank for rank in range(1, posts + 1)), initial=0.0))

    def expected_total(scale: float) -> float:
        capped = min(posts, int(scale / cap))  # ranks 1..capped reach the cap
        return capped * cap + scale * (harmonic[posts] - harmonic[capped])

    low, high = 0.0, float(total) * posts
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if expected_total(middle) < total else (low, middle)
    exact = [min(float(cap), high / rank) for rank in range(1, posts + 1)]
    counts = [int(value) for value in exact]
    # Largest remainder: the votes lost to rounding down go to the largest fractions.
    missing = total - sum(counts)
    by_fraction = sorted(range(posts), key=lambda rank: exact[rank] - counts[rank], reverse=True)
    for rank in by_fraction[:missing]:
        counts[rank] += 1
    post_of_rank = list(range(posts))
    rng.shuffle(post_of_rank)
    by_post = [0] * posts
    for rank, post_index in enumerate(post_of_rank):
        by_post[post_index] = counts[rank]
    return by_post


@dataclass
class Dataset:
    """Deterministic from the seed, so a reload rebuilds the very same users and posts."""

    config: BenchConfig
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    @property
    def user_ids(self) -> range:
        return range(1, self.config.users + 1)

    def user_created_at(self, user_id: int) -> str:
        # Users joined a year before the first post, seven minutes apart.
        return _timestamp(self.loaded_at - timedelta(days=730) + timedelta(minutes=user_id * 7))

    @cached_property
    def posts(self) -> list[tuple[int, str, str, str]]:
        """(owner_id, title, content, created_at) of post 1, 2, ...: in id order over the last year."""
        rng = random.Random(self.config.seed)
        start = self.loaded_at - timedelta(days=365)
        step = timedelta(days=365) / self.config.posts
        rows = []
        for index in range(self.config.posts):
            title = " ".join(rng.choices(VOCABULARY, k=rng.randint(3, 8))).capitalize()
            content = " ".join(rng.choices(VOCABULARY, k=rng.randint(15, 40))).capitalize() + "."
            owner = rng.randint(1, self.config.users)
            rows.append((owner, title, content, _timestamp(start + step * index)))
        return rows

    def vote_counts(self, total: int) -> list[int]:
        rng = random.Random(self.config.seed + total)
        return zipf_vote_counts(posts=self.config.posts, total=total, cap=self.config.users, rng=rng)


def _voters(counts: list[int], users: int, seed: int) -> Iterator[str]:
    """COPY rows (user_id, post_id): each post's voters are distinct users, drawn at random."""
    rng = random.Random(seed)
    population = range(1, users + 1)
    for post_index, count in enumerate(counts):
        post_id = post_index + 1
        for user_id in rng.sample(population, count):
            yield f"{user_id}\t{post_id}\n"


# ---- COPY ----


def _chunks(rows: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _copy(cursor, table: str, columns: str, rows: Iterable[str], total: int) -> None:
    from tqdm import tqdm  # here, so that `python -m bench` can first say that it is missing

    with tqdm(total=total, desc=f"  {table:<13}", unit=" rows", unit_scale=True, leave=True) as progress:
        for chunk in _chunks(rows, COPY_CHUNK_ROWS):
            cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", io.StringIO("".join(chunk)))
            progress.update(len(chunk))


@contextlib.contextmanager
def _without_keys_and_indexes(cursor, tables: list[str]) -> Iterator[None]:
    """Drops the tables' constraints and indexes, and makes them again from their catalog
    definitions after the block: building an index once is far faster than growing it row
    by row, and one join checks a foreign key faster than a trigger per row."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype = 'f'"
        " FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('p', 'u', 'f')",
        (tables,),
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indrelid = ANY(%s::regclass[]) AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid AND contype IN ('p', 'u'))",
        (tables,),
    )
    indexes = cursor.fetchall()
    # Foreign keys first: they depend on the keys they reference.
    for table, name, _, _ in sorted(constraints, key=lambda c: not c[3]):
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for table, name, definition, _ in sorted(constraints, key=lambda c: c[3]):
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for _, definition in indexes:
        cursor.execute(definition)


def _reset_identity(cursor, table: str) -> None:
    """New rows made by the services get ids after the loaded ones."""
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"
    )


def _vacuum_analyze(component: str, tables: list[str]) -> None:
    """Statistics for the planner, and hint bits and visibility maps set now rather than by the first reads."""
    with contextlib.closing(psycopg2.connect(_dsn(component))) as connection:
        connection.autocommit = True  # VACUUM cannot run in a transaction
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"VACUUM (ANALYZE) {table}")


def load_users(dataset: Dataset) -> None:
    password_hash = PasswordHasher().hash(PASSWORD)
    users = dataset.config.users
    with contextlib.closing(psycopg2.connect(_dsn("auth"))) as connection, connection.cursor() as cursor:
        rows = (f"{i}\t{email(i)}\t{password_hash}\t{dataset.user_created_at(i)}\n" for i in dataset.user_ids)
        _copy(cursor, "auth.users", "id, email, password_hash, created_at", rows, users)
        _reset_identity(cursor, "auth.users")
        connection.commit()
    with contextlib.closing(psycopg2.connect(_dsn("posts"))) as connection, connection.cursor() as cursor:
        rows = (f"{i}\t{email(i)}\t{dataset.user_created_at(i)}\n" for i in dataset.user_ids)
        _copy(cursor, "posts.users", "id, email, created_at", rows, users)
        connection.commit()
    _vacuum_analyze("auth", ["auth.users"])


def load_posts_and_votes(dataset: Dataset, total_votes: int, *, replace: bool = False) -> None:
    """Posts (in both services) and `total_votes` votes; with `replace`, what was there goes first,
    events and inboxes included, so no stale vote event can follow."""
    counts = dataset.vote_counts(total_votes)
    posts = dataset.config.posts

    with contextlib.closing(psycopg2.connect(_dsn("posts"))) as connection, connection.cursor() as cursor:
        if replace:
            cursor.execute("TRUNCATE posts.posts, posts.outbox, posts.inbox, posts.count_changes")
        rows = (
            f"{i + 1}\t{owner}\t{title}\t{content}\tt\t{created_at}\t1\t{counts[i]}\n"
            for i, (owner, title, content, created_at) in enumerate(dataset.posts)
        )
        columns = "id, owner_id, title, content, published, created_at, revision, votes"
        with _without_keys_and_indexes(cursor, ["posts.posts"]):
            _copy(cursor, "posts.posts", columns, rows, posts)
        _reset_identity(cursor, "posts.posts")
        connection.commit()

    with contextlib.closing(psycopg2.connect(_dsn("votes"))) as connection, connection.cursor() as cursor:
        if replace:
            cursor.execute("TRUNCATE votes.votes, votes.posts, votes.outbox, votes.inbox, votes.deleted_users")
        rows = (f"{i + 1}\t{owner}\tt\t1\tf\n" for i, (owner, *_) in enumerate(dataset.posts))
        voters = _voters(counts, dataset.config.users, dataset.config.seed + total_votes)
        with _without_keys_and_indexes(cursor, ["votes.posts", "votes.votes"]):
            _copy(cursor, "votes.posts", "id, owner_id, published, revision, deleted", rows, posts)
            _copy(cursor, "votes.votes", "user_id, post_id", voters, total_votes)
        connection.commit()

    _vacuum_analyze("posts", ["posts.users", "posts.posts"])
    _vacuum_analyze("votes", ["votes.posts", "votes.votes"])


@dataclass(frozen=True)
class VoteSpread:
    """How skewed a loaded set of votes is."""

    total: int
    top: int
    median: float
    posts_without_votes: int
    share_of_top_1_percent: float

    @classmethod
    def of(cls, counts: list[int]) -> "VoteSpread":
        ordered = sorted(counts, reverse=True)
        top_1_percent = ordered[: max(1, len(ordered) // 100)]
        middle = len(ordered) // 2
        return cls(
            total=sum(ordered),
            top=ordered[0],
            median=float(ordered[middle]),
            posts_without_votes=ordered.count(0),
            share_of_top_1_percent=sum(top_1_percent) / max(1, sum(ordered)),
        )

    def __str__(self) -> str:
        return (
            f"{self.total:,} votes: most on a post {self.top}, median {self.median:g}, "
            f"{self.posts_without_votes:,} posts without any, top 1% of posts hold {self.share_of_top_1_percent:.0%}"
        )


def load(dataset: Dataset) -> float:
    """A fresh `tally_bench` with the full dataset; returns the seconds it took."""
    started = time.perf_counter()
    recreate_database()
    load_users(dataset)
    load_posts_and_votes(dataset, dataset.config.votes)
    return time.perf_counter() - started
