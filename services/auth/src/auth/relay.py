"""The auth service's outbox relay process: `python -m auth.relay`."""

from auth.models import idempotency_keys, login_failures, outbox
from auth.settings import AuthSettings
from tally_shared.events import run_relay


def main() -> None:
    run_relay(AuthSettings(), outbox=outbox, expiring=[idempotency_keys, login_failures])


if __name__ == "__main__":
    main()
