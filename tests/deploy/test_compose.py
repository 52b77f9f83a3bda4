"""docker-compose.yml resolves with .env.example's values (docker-compose, Debian's package;
and `docker compose` too where the client has the plugin), refuses to resolve without each
required secret, and describes the stack the brief asks for: one-shot database setup and
migrations that the processes wait for, health checks and healthy dependencies, nothing
that prevents `--scale`, only the gateway, RabbitMQ's management UI and the trace viewer's
UI published, and every process's spans sent to the trace viewer."""

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_support import (
    API_PORTS,
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    IMAGES,
    JAEGER_IMAGE,
    ROOT,
    build_args,
    compose_config,
    image_for,
    tool,
)

REQUIRED = sorted(set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text())))
ONE_SHOT = {"dbsetup", "auth-migrate", "posts-migrate", "votes-migrate", "gateway-migrate", "posts-reconcile"}
EVENT_PROCESSES = {
    "auth-relay",
    "posts-relay",
    "posts-worker",
    "votes-relay",
    "votes-worker",
    "gateway-worker",
}
APIS = {"gateway", "auth", "posts", "votes"}


def _compose_commands() -> list[list[str]]:
    commands = [[tool("docker-compose")]]
    # Compose v2, where the docker client has the plugin (it has not here): checked as well.
    if shutil.which("docker"):
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if plugin.returncode == 0:
            commands.append(["docker", "compose"])
    return commands


@pytest.fixture(scope="module", params=_compose_commands(), ids=lambda c: " ".join([Path(c[0]).name, *c[1:]]))
def compose(request) -> list[str]:
    return request.param


@pytest.fixture(scope="module")
def config(compose: list[str]) -> dict:
    result = compose_config(compose, ENV_EXAMPLE)
    assert result.returncode == 0, f"{' '.join(compose)} config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def env_example_values() -> dict[str, str]:
    text = ENV_EXAMPLE.read_text()
    values = {}
    for match in re.finditer(r'^([A-Z0-9_]+)=("(?:[^"]*)"|.*)$', text, flags=re.M):
        values[match.group(1)] = match.group(2).strip('"')
    return values


def test_every_required_variable_has_a_documented_dev_value() -> None:
    assert {"TALLY_INTERNAL_SECRET", "AUTH_JWT_PRIVATE_KEY", "POSTGRES_PASSWORD"} <= set(REQUIRED)
    assert {f"{s}_DB_PASSWORD" for s in ("AUTH", "POSTS", "VOTES", "GATEWAY")} <= set(REQUIRED)
    values = env_example_values()
    for name in REQUIRED:
        assert values.get(name), f".env.example has no value for the required {name}"
    text = ENV_EXAMPLE.read_text()
    assert "DEVELOPMENT VALUES ONLY" in text and "DEV-ONLY KEY" in text


def test_the_dev_signing_key_is_a_real_ed25519_private_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = env_example_values()["AUTH_JWT_PRIVATE_KEY"]
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)


def test_resolves_with_the_example_values(config: dict) -> None:
    services = config["services"]
    assert ONE_SHOT | EVENT_PROCESSES | APIS | {"postgres", "rabbitmq", "jaeger"} == set(services)
    pem = services["auth"]["environment"]["AUTH_JWT_PRIVATE_KEY"]
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n") and pem.rstrip().endswith("-----END PRIVATE KEY-----")


@pytest.mark.parametrize("missing", REQUIRED)
def test_refuses_to_resolve_without_a_required_secret(compose: list[str], missing: str, tmp_path: Path) -> None:
    text = ENV_EXAMPLE.read_text()
    # Drop the variable's line (and the continuation lines of a quoted multi-line value).
    without = re.sub(rf'^{missing}=("[^"]*"|.*)\n', "", text, flags=re.M)
    assert without != text
    env_file = tmp_path / "env"
    env_file.write_text(without)
    result = compose_config(compose, env_file)
    assert result.returncode != 0, f"compose resolved without {missing}"
    assert missing in result.stderr, result.stderr


def test_refuses_to_resolve_with_no_settings_at_all(compose: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(compose, empty)
    assert result.returncode != 0
    assert "is required" in result.stderr


def test_only_the_gateway_and_the_broker_and_trace_uis_are_published(config: dict) -> None:
    published = {name: s.get("ports", []) for name, s in config["services"].items() if s.get("ports")}
    assert set(published) == {"gateway", "rabbitmq", "jaeger"}

    def targets(ports: list) -> set[int]:
        return {int(p["target"]) if isinstance(p, dict) else int(str(p).rsplit(":", 1)[-1]) for p in ports}

    assert targets(published["gateway"]) == {8000}
    assert targets(published["rabbitmq"]) == {15672}
    assert targets(published["jaeger"]) == {16686}
    assert re.fullmatch(r"rabbitmq:3(\.\d+)*-management", config["services"]["rabbitmq"]["image"])


def test_processes_can_be_scaled(config: dict) -> None:
    for name, service in config["services"].items():
        assert "container_name" not in service, f"{name}: container_name prevents --scale"
    for name in EVENT_PROCESSES | {"auth", "posts", "votes"}:
        assert not config["services"][name].get("ports"), f"{name}: a published port prevents --scale"


def test_one_shot_setup_and_migrations_gate_the_processes(config: dict) -> None:
    services = config["services"]
    assert "tally_shared.db.setup" in " ".join(services["dbsetup"]["command"])
    for name in ("auth", "posts", "votes", "gateway"):
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["alembic", "upgrade", "head"]
        assert migrate["depends_on"]["dbsetup"]["condition"] == "service_completed_successfully"
        assert migrate.get("restart", "no") == "no"
        processes = [name] + [p for p in EVENT_PROCESSES if p.startswith(f"{name}-")]
        for process in processes:
            condition = services[process]["depends_on"][f"{name}-migrate"]["condition"]
            assert condition == "service_completed_successfully", f"{process} does not wait for {name}-migrate"
    assert services["posts-reconcile"]["profiles"] == ["reconcile"]


def test_dependencies_wait_for_health(config: dict) -> None:
    services = config["services"]
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert spec["condition"] == expected, f"{name} -> {dependency}: {spec['condition']}"
            if expected == "service_healthy":
                check = services[dependency].get("healthcheck", {})
                assert check.get("test") and check["test"] != ["NONE"], f"{dependency} has no health check"
    for name in EVENT_PROCESSES | APIS:
        assert services[name]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    for name in ("auth", "posts", "votes"):
        assert services["gateway"]["depends_on"][name]["condition"] == "service_healthy"


def test_every_long_running_container_has_a_health_check(config: dict) -> None:
    for name, service in config["services"].items():
        check = service.get("healthcheck") or {}
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
            continue
        assert check.get("test") and check["test"] != ["NONE"] and not check.get("disable"), f"{name}: no health check"
        assert service.get("restart") in ("unless-stopped", "always"), name
    for name in APIS:
        test = " ".join(config["services"][name]["healthcheck"]["test"])
        assert f"127.0.0.1:{API_PORTS[name]}/readyz" in test, f"{name}: the health check is readiness: {test}"


def test_urls_point_at_the_compose_services(config: dict) -> None:
    services = config["services"]
    for name, service in services.items():
        environment = service.get("environment") or {}
        for variable, value in environment.items():
            if not isinstance(value, str) or "://" not in value or variable == "AUTH_JWT_PRIVATE_KEY":
                continue
            url = urlsplit(value)
            host, port = url.hostname, url.port
            assert host in services, f"{name}: {variable} points at {host}, not a compose service"
            if variable == "OTEL_EXPORTER_OTLP_ENDPOINT":
                assert (host, port) == ("jaeger", 4318), f"{name}: spans go to Jaeger's OTLP/HTTP port"
            elif url.scheme == "http":
                assert port == API_PORTS[host], f"{name}: {variable}={value}: {host} listens on {API_PORTS[host]}"
            if url.scheme.startswith("postgresql"):
                assert (host, port, url.path) == (
                    "postgres",
                    5432,
                    "/tally" if variable != "TALLY_ADMIN_DATABASE_URL" else "/postgres",
                )
            if url.scheme == "amqp":
                assert (host, port) == ("rabbitmq", 5672)
    gateway = services["gateway"]["environment"]
    assert gateway["GATEWAY_AUTH_URL"] == "http://auth:8001"
    assert gateway["GATEWAY_POSTS_URL"] == "http://posts:8002"
    assert gateway["GATEWAY_VOTES_URL"] == "http://votes:8003"
    assert services["posts"]["environment"]["POSTS_VOTES_URL"] == "http://votes:8003"
    assert services["votes"]["environment"]["VOTES_POSTS_URL"] == "http://posts:8002"


def test_each_service_uses_its_own_role(config: dict) -> None:
    for name, service in config["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            match = re.fullmatch(r"(AUTH|POSTS|VOTES|GATEWAY)_DATABASE_URL", variable)
            if match:
                assert urlsplit(value).username == f"tally_{match.group(1).lower()}", f"{name}: {variable}"


def test_images_are_built_from_the_repository_root(config: dict) -> None:
    for name, service in config["services"].items():
        if name in ("postgres", "rabbitmq", "jaeger"):
            assert ":" in service["image"] and not service["image"].endswith(":latest")
            continue
        build = service["build"]
        assert Path(build["context"]).resolve() == ROOT
        assert (ROOT / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, build
        # The image's stage, the package it is built from and the image's name are the same
        # component: `--target posts` with PACKAGE=services/votes would be a broken image.
        target = build["target"]
        assert target in IMAGES, f"{name}: no image {target!r}"
        assert build.get("args") == build_args(target), f"{name}: target {target} is built with {build.get('args')}"
        assert image_for(service["image"]) == target, f"{name}: image {service['image']} built from target {target}"


def test_every_tally_process_sends_its_spans_to_the_trace_viewer(config: dict) -> None:
    services = config["services"]
    assert services["jaeger"]["image"] == JAEGER_IMAGE
    for name in EVENT_PROCESSES | APIS:
        assert services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", name
        # Tracing is optional: nothing waits for the viewer.
        assert "jaeger" not in (services[name].get("depends_on") or {}), name
