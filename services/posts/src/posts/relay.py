"""The posts service's outbox relay process: `python -m posts.relay`."""

from posts.models import idempotency_keys, outbox
from posts.settings import PostsSettings
from tally_shared.events import run_relay


def main() -> None:
    run_relay(PostsSettings(), outbox=outbox, expiring=[idempotency_keys])


if __name__ == "__main__":
    main()
