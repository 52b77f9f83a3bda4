"""The posts service's event consumer process: `python -m posts.worker`."""

from posts.events import BATCH_HANDLERS, HANDLERS
from posts.models import inbox
from posts.settings import PostsSettings
from tally_shared.events import run_worker


def main() -> None:
    run_worker(PostsSettings(), inbox=inbox, handlers=HANDLERS, batch_handlers=BATCH_HANDLERS)


if __name__ == "__main__":
    main()
