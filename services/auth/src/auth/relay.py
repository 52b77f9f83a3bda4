"""The auth service's outbox relay process: `python -m auth.relay`."""

from auth.models import outbox
from auth.settings import AuthSettings
from tally_shared.relay import run_relay


def main() -> None:
    run_relay(AuthSettings(), outbox=outbox)


if __name__ == "__main__":
    main()
