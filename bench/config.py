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


def database_url(component: str) -> str:
    return f"postgresql+psycopg2://tally_{component}:tally_{component}@127.0.0.1:5432/{DATABASE}"


@dataclass(frozen=True)
class BenchConfig:
    users: int = 1_000
    posts: int = 100_000
    votes: int = 1_000_000
    # The dataset the feed reads are repeated on, to see whether the number of votes matters.
    small_votes: int = 10_000
    # Users logged in through POST /login, whose tokens the load uses.
    logged_in_users: int = 200
    # Seconds of each wrk scenario, after a warm-up run whose figures are dropped.
    duration: float = 15
    warmup: float = 3
    threads: int = 2
    connections: int = 32
    # The open-loop vote stream whose propagation lag is measured (the target's rate)...
    lag_rate: float = 200
    # ...and a second one the stack surely sustains, to see the lag without a queue in front.
    light_lag_rate: float = 50
    lag_duration: float = 10
    # Polling GET /posts/{id} every 5 ms for every vote would load the stack more
    # than the votes themselves, so only one vote in this many is followed.
    lag_sample_every: int = 5
    lag_poll_interval: float = 0.005
    # Under the full-speed wrk vote load: votes followed per second.
    saturated_lag_rate: float = 10
    seed: int = 20240601
    # py-spy profiles of the gateway and the posts API under the feed load.
    profile: bool = False

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
        """Posts from this id on are kept for the lag measurements: the wrk vote load never
        touches them, so the count each measured vote must lead to is known."""
        return self.posts * 9 // 10 + 1
