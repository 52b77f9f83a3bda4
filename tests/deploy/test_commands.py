"""Every command a container runs exists in the image that runs it: the CMD and HEALTHCHECK of
each image's stage of the Dockerfile, docker-compose.yml's `command` and health checks, and every Kubernetes
container's command and args in both overlays (init containers and CronJobs included).

  python -m X             X is found (importlib.util.find_spec) and belongs to the image's packages
  uvicorn --factory m:f   m imports and f is a callable attribute of it; uvicorn is a dependency
  alembic ...             alembic.ini is copied into the image's working directory, with the
                          migrations it names, and env.py imports only the image's packages
Shell commands (`sh -c "..."`) are split and each of these is checked inside them."""

import ast
import configparser
import json
import shlex
import subprocess
import sys
from pathlib import PurePosixPath

import pytest
import yaml
from deploy_support import (
    ENV_EXAMPLE,
    IMAGES,
    OVERLAYS,
    ROOT,
    Image,
    compose_config,
    containers,
    image,
    image_stages,
    kustomize,
    pod_templates,
)

# Tools of the base image (python:3.11-slim) that shell commands may use.
BASE_IMAGE_TOOLS = {"sh", "exec", "until", "do", "done", "echo", "sleep", "grep", "true", "test"}
SEPARATORS = {";", "&&", "||", "|", "do", "then", "done"}


def commands_in(argv: list[str]) -> list[list[str]]:
    """The simple commands of an argv, looking inside `sh -c` scripts."""
    if argv[:2] in (["sh", "-c"], ["/bin/sh", "-c"], ["bash", "-c"]):
        found: list[list[str]] = []
        current: list[str] = []
        for token in shlex.split(argv[2]):
            # "foo;" ends a command too
            ends = token.endswith(";") and token != ";"
            word = token[:-1] if ends else token
            if word in SEPARATORS or word in ("until", "while", "if"):
                if current:
                    found.append(current)
                current = []
                continue
            current.append(word)
            if ends:
                found.append(current)
                current = []
        if current:
            found.append(current)
        return [simple for command in found for simple in commands_in(command)]
    if argv and argv[0] == "exec":
        return commands_in(argv[1:])
    return [argv]


def _in_venv(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


_checked: dict[tuple[str, tuple[str, ...]], str | None] = {}


def problem(built: Image, argv: list[str]) -> str | None:
    """What is wrong with running `argv` in the image, or None."""
    key = (built.name, tuple(argv))
    if key not in _checked:
        _checked[key] = _problem(built, argv)
    return _checked[key]


def _problem(built: Image, argv: list[str]) -> str | None:
    program = PurePosixPath(argv[0]).name
    if program in ("python", "python3"):
        if argv[1:2] != ["-m"]:
            return None if argv[1:2] == ["-c"] else f"unexpected python invocation {argv}"
        module = argv[2]
        if module.split(".")[0] not in built.packages:
            return f"{module} is not in the {built.name} image's packages {sorted(built.packages)}"
        result = _in_venv(f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)")
        return None if result.returncode == 0 else f"python -m {module}: no such module ({result.stderr.strip()})"
    if program == "uvicorn":
        if "uvicorn" not in built.dependencies:
            return f"uvicorn is not a dependency of the {built.name} image"
        if "--factory" not in argv:
            return "uvicorn without --factory: the apps are built by factories"
        target = next(a for a in argv[1:] if not a.startswith("-") and ":" in a)
        module, _, attribute = target.partition(":")
        if module.split(".")[0] not in built.packages:
            return f"{module} is not in the {built.name} image"
        result = _in_venv(
            f"import importlib; f = getattr(importlib.import_module({module!r}), {attribute!r}); assert callable(f)"
        )
        return None if result.returncode == 0 else f"uvicorn {target}: {result.stderr.strip().splitlines()[-1:]}"
    if program == "alembic":
        return _alembic_problem(built)
    if program in BASE_IMAGE_TOOLS:
        return None
    return f"unknown program {argv[0]!r}"


def _alembic_problem(built: Image) -> str | None:
    if "alembic" not in built.dependencies:
        return f"alembic is not a dependency of the {built.name} image"
    config_source = next((s for s, d in built.copied.items() if d == built.workdir / "alembic.ini"), None)
    if config_source is None:
        return f"no alembic.ini is copied to the working directory {built.workdir} of the {built.name} image"
    config_path = ROOT / config_source
    if not config_path.is_file():
        return f"{config_source} does not exist"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config_path)
    location = parser["alembic"]["script_location"].replace("%(here)s", str(built.workdir))
    copied_to = {str(d): s for s, d in built.copied.items()}
    if location not in copied_to:
        return f"alembic.ini's script_location {location} is not copied into the {built.name} image"
    migrations = ROOT / copied_to[location]
    if not (migrations / "env.py").is_file():
        return f"{migrations.relative_to(ROOT)}/env.py does not exist"
    if not list((migrations / "versions").glob("*.py")):
        return f"{migrations.relative_to(ROOT)}/versions has no migration"
    for node in ast.walk(ast.parse((migrations / "env.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top not in built.packages and top not in ("alembic", "sqlalchemy", "logging", "__future__"):
                return f"{migrations.relative_to(ROOT)}/env.py imports {node.module}, which the image does not have"
    return None


# ---- where the commands come from ----------------------------------------------


def dockerfile_commands() -> list[tuple[str, str, list[str]]]:
    found = []
    for name in sorted(IMAGES):
        final = image_stages(name)[-1]
        found.append((f"Dockerfile --target {name} CMD", name, final.last("CMD").json_form()))
        healthcheck = final.last("HEALTHCHECK").arguments
        found.append(
            (f"Dockerfile --target {name} HEALTHCHECK", name, json.loads(healthcheck[healthcheck.index("CMD") + 3 :]))
        )
    return found


def compose_commands() -> list[tuple[str, str, list[str]]]:
    from deploy_support import tool

    result = compose_config([tool("docker-compose")], ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    found = []
    for service, spec in yaml.safe_load(result.stdout)["services"].items():
        if "build" not in spec:
            continue
        # test_compose checks that each build's target, PACKAGE and image name agree.
        name = spec["build"]["target"]
        if "command" in spec:
            command = spec["command"]
            found.append(
                (f"compose {service} command", name, shlex.split(command) if isinstance(command, str) else command)
            )
        test = (spec.get("healthcheck") or {}).get("test")
        if test and test[0] == "CMD":
            found.append((f"compose {service} healthcheck", name, test[1:]))
        elif test and test[0] == "CMD-SHELL":
            found.append((f"compose {service} healthcheck", name, ["sh", "-c", test[1]]))
    return found


def kubernetes_commands() -> list[tuple[str, str, list[str]]]:
    from deploy_support import COLLECTOR_IMAGE, image_for

    found = []
    for overlay, path in sorted(OVERLAYS.items()):
        for obj, template in pod_templates(kustomize(path)):
            for container in containers(template):
                if container["image"] == COLLECTOR_IMAGE:
                    continue
                name = image_for(container["image"])
                assert name, f"{obj['metadata']['name']}: {container['image']} is no Tally image"
                argv = [*container.get("command", []), *container.get("args", [])]
                assert argv, f"{obj['metadata']['name']}/{container['name']}: no command: say what the container runs"
                found.append((f"{overlay} {obj['kind']}/{obj['metadata']['name']}/{container['name']}", name, argv))
    return found


def test_the_shell_splitter() -> None:
    script = "until alembic current 2>/dev/null | grep -q '(head)'; do echo 'waiting'; sleep 5; done"
    assert [c[0] for c in commands_in(["sh", "-c", script])] == ["alembic", "grep", "echo", "sleep"]
    assert commands_in(["sh", "-c", 'exec python -m tally_shared.db.setup "auth=$URL"']) == [
        ["python", "-m", "tally_shared.db.setup", "auth=$URL"]
    ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(dockerfile_commands, id="dockerfiles"),
        pytest.param(compose_commands, id="compose"),
        pytest.param(kubernetes_commands, id="kubernetes"),
    ],
)
def test_every_command_exists_in_its_image(source) -> None:
    problems = []
    commands = source()
    assert commands
    for where, name, argv in commands:
        built = image(name)
        for command in commands_in(argv):
            found = problem(built, command)
            if found:
                problems.append(f"{where}: {' '.join(command)}: {found}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_checker_refuses_what_does_not_exist() -> None:
    posts = image("posts")
    assert problem(posts, ["python", "-m", "posts.no_such_module"])
    assert problem(posts, ["python", "-m", "votes.worker"])  # another service's module
    assert problem(posts, ["uvicorn", "--factory", "posts.app:no_such_factory"])
    assert problem(posts, ["uvicorn", "--factory", "auth.app:create_app"])
    assert problem(posts, ["celery", "worker"])
    assert problem(posts, ["python", "-m", "posts.worker"]) is None
    assert problem(posts, ["alembic", "upgrade", "head"]) is None
