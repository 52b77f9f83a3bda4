"""The posts service's outbox relay process: `python -m posts.relay`."""

from posts.models import outbox
from posts.settings import PostsSettings
from tally_shared.relay import run_relay


def main() -> None:
    run_relay(PostsSettings(), outbox=outbox)


if __name__ == "__main__":
    main()
