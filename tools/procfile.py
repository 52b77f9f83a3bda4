"""Writes the Procfile `make run` starts: `python tools/procfile.py [REPLICAS]`.

With one replica it is the checked-in `Procfile`. With more, every API runs
REPLICAS times on its own port (auth 8001, 8011, 8021, ...; posts 8002, 8012,
...; votes 8003, 8013, ...), the gateway on 8000 balances over them, and every
relay and worker runs REPLICAS times too: relays share the outbox through
`FOR UPDATE SKIP LOCKED`, workers share their queue, and the counts stay exact
(docs/vote-counts.md).
"""

import sys

SERVICES = {"auth": 8001, "posts": 8002, "votes": 8003}
EVENT_PROCESSES = {"auth": ["relay"], "posts": ["relay", "worker"], "votes": ["relay", "worker"]}
PORT_STEP = 10


def api_port(service: str, replica: int) -> int:
    return SERVICES[service] + PORT_STEP * replica


def replica_urls(service: str, replicas: int) -> str:
    return ",".join(f"http://127.0.0.1:{api_port(service, replica)}" for replica in range(replicas))


def uvicorn(app: str, host: str, port: int) -> str:
    return f"uvicorn --factory {app}:create_app --host {host} --port {port} --no-access-log"


def procfile(replicas: int) -> str:
    def numbered(name: str, replica: int) -> str:
        return name if replicas == 1 else f"{name}-{replica + 1}"

    gateway = uvicorn("gateway.app", "$GATEWAY_HOST", 8000)
    if replicas > 1:
        upstreams = " ".join(f"GATEWAY_{service.upper()}_URL={replica_urls(service, replicas)}" for service in SERVICES)
        gateway = f"env {upstreams} {gateway}"
    lines = [f"gateway: {gateway}", "gateway-worker: python -m gateway.worker"]
    for service in SERVICES:
        for replica in range(replicas):
            command = uvicorn(f"{service}.app", "127.0.0.1", api_port(service, replica))
            if service == "votes" and replicas > 1:
                command = f"env VOTES_POSTS_URL={replica_urls('posts', replicas)} {command}"
            lines.append(f"{numbered(service, replica)}: {command}")
        for process in EVENT_PROCESSES[service]:
            for replica in range(replicas):
                lines.append(f"{numbered(f'{service}-{process}', replica)}: python -m {service}.{process}")
    return "\n".join(lines) + "\n"


def main() -> None:
    replicas = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    if not 1 <= replicas <= 9:
        raise SystemExit("REPLICAS must be between 1 and 9")
    sys.stdout.write(procfile(replicas))


if __name__ == "__main__":
    main()
