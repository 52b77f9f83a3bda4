"""Check, before starting anything, that PostgreSQL and RabbitMQ answer, and say how to start them if not."""

import socket
import sys

from yarl import URL

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "RabbitMQ": "rabbitmq-server -detached",
}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    """Usage: python -m tally_shared.db.preflight POSTGRES_URL AMQP_URL"""
    postgres, amqp = URL(argv[0].replace("+psycopg2", "")), URL(argv[1])
    missing = [
        (name, url)
        for name, url, default_port in (("PostgreSQL", postgres, 5432), ("RabbitMQ", amqp, 5672))
        if not reachable(url.host or "127.0.0.1", url.port or default_port)
    ]
    for name, url in missing:
        print(
            f"{name} is not reachable at {url.host}:{url.port}. Start it (as root) with:\n    {HOW_TO_START[name]}",
            file=sys.stderr,
        )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
