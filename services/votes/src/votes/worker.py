"""The votes service's event consumer process: `python -m votes.worker`."""

from tally_shared.events import run_worker
from votes.events import HANDLERS
from votes.models import inbox
from votes.settings import VotesSettings


def main() -> None:
    run_worker(VotesSettings(), inbox=inbox, handlers=HANDLERS)


if __name__ == "__main__":
    main()
