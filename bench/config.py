"""What a benchmark run loads and how hard it pushes; `BENCH_*` environment variables override."""

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "tally_bench"
EVENT_NAMESPACE = "tally-bench"
# Every component with a schema, and the directory its Alembic migrations run from.
MIGRATED = {
    "auth": ROOT / "services" / "auth",
    "posts": ROOT / "services" / "posts",
    "votes": ROOT / "services" / "votes",
    "gateway": ROOT / "gateway",
}
# Every consuming service's queues, deleted with the namespace at the end.
CONSUMERS = ["posts", "votes", "gateway"]


# How the services reach PostgreSQL (BENCH_DATABASE_DRIVER), by the URL scheme they are given:
# they turn a psycopg2 URL into asyncpg, and keep an explicit `postgresql+psycopg` (psycopg 3, async).
SERVICE_URL_SCHEMES = {"asyncpg": "postgresql+psycopg2", "psycopg": "postgresql+psycopg"}


def database_url(component: str, scheme: str = "postgresql+psycopg2") -> str:
    """The URL of `component`'s role; psycopg2 (what migrations, the loading and the bench's own queries use)
    unless another scheme is asked for."""
    return f"{scheme}://tally_{component}:tally_{component}@127.0.0.1:5432/{DATABASE}"


@dataclass(frozen=True)
class BenchConfig:
    users: int = 1_000
    posts: int = 100_000
    votes: int = 1_000_000
    # The dataset the feed reads are repeated on, to see whether the number of votes matters.
    small_votes: int = 10_000
    # The second size the reads are measured at, to see whether they stay flat as the data grows
    # (ten times the posts and the votes); BENCH_LARGE_POSTS=0 skips it.
    large_posts: int = 1_000_000
    large_votes: int = 10_000_000
    # How deep the page read by cursor is, in posts.
    cursor_depth: int = 10_000
    # Users whose tokens the load uses at random. Every user of the dataset is logged in through
    # POST /login, for the votes on one hot post (each user in turn); the other scenarios use these.
    logged_in_users: int = 200
    # Seconds of each wrk scenario, after a warm-up run whose figures are dropped.
    duration: float = 15
    warmup: float = 3
    threads: int = 2
    connections: int = 32
    # Every user votes on one post, cast then retracted then cast..., over this many connections.
    hot_connections: int = 200
    # The open-loop vote streams whose propagation lag is measured: besides one at half the
    # new votes/s POST /vote reached (the target's), one at a fixed rate, comparable from run to run...
    lag_rate: float = 200
    # ...and a third one the stack surely sustains, to see the lag without a queue in front.
    light_lag_rate: float = 50
    lag_duration: float = 10
    # Polling GET /posts/{id} every 5 ms for every vote would load the stack more
    # than the votes themselves, so only one vote in this many is followed.
    lag_sample_every: int = 5
    lag_poll_interval: float = 0.005
    # Under the full-speed wrk vote load: votes followed per second.
    saturated_lag_rate: float = 10
    # Seconds of the open-loop POST /vote stream at twice the new votes/s POST /vote reached.
    overload_duration: float = 20
    # `asyncpg` or `psycopg` (3, async): the driver the services reach PostgreSQL with.
    database_driver: str = "asyncpg"
    seed: int = 20240601
    # py-spy profiles of the gateway and the posts API under the feed load.
    profile: bool = False

    def __post_init__(self) -> None:
        if self.database_driver not in SERVICE_URL_SCHEMES:
            raise ValueError(f"BENCH_DATABASE_DRIVER={self.database_driver!r}: one of {', '.join(SERVICE_URL_SCHEMES)}")
        # The page read by cursor must exist at both sizes.
        if self.posts <= self.cursor_depth or 0 < self.large_posts <= self.cursor_depth:
            raise ValueError(f"BENCH_CURSOR_DEPTH={self.cursor_depth} must be below BENCH_POSTS and BENCH_LARGE_POSTS")
        # Each user has at most one vote on the hot post in flight: the users must outnumber the connections.
        if self.hot_connections >= self.users:
            raise ValueError(f"BENCH_HOT_CONNECTIONS={self.hot_connections} must be below BENCH_USERS={self.users}")

    @classmethod
    def from_environment(cls) -> "BenchConfig":
        """Each field from `BENCH_<FIELD>` when set, e.g. BENCH_DURATION=5."""
        overrides = {}
        for field in dataclasses.fields(cls):
            value = os.environ.get(f"BENCH_{field.name.upper()}")
            if value is None or value == "":
                continue
            kind = type(field.default)
            overrides[field.name] = value not in ("0", "false", "no") if kind is bool else kind(value)
        return cls(**overrides)

    @property
    def lag_posts_from(self) -> int:
        """Posts from this id on (but the hot post) are kept for the lag measurements: the wrk
        vote load never touches them, so the count each measured vote must lead to is known."""
        return self.posts * 9 // 10 + 1

    @property
    def hot_post_id(self) -> int:
        """The post every user votes on in the hot-post scenario, and nothing else touches: the last one."""
        return self.posts

    def large(self) -> "BenchConfig":
        """The same, at the second size."""
        return dataclasses.replace(self, posts=self.large_posts, votes=self.large_votes)

    def service_database_url(self, component: str) -> str:
        """`component`'s URL as the stack's processes get it, for the driver of BENCH_DATABASE_DRIVER."""
        return database_url(component, SERVICE_URL_SCHEMES[self.database_driver])
