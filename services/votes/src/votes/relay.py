"""The votes service's outbox relay process: `python -m votes.relay`."""

from tally_shared.events import run_relay
from votes.models import idempotency_keys, outbox
from votes.settings import VotesSettings


def main() -> None:
    run_relay(VotesSettings(), outbox=outbox, expiring=[idempotency_keys])


if __name__ == "__main__":
    main()
