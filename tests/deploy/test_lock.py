"""The lock (requirements/*.txt, tools/lock.py) pins, with hashes, exactly what the packages
declare, and says when a declaration changed without `make lock`."""

import re
import shutil
import sys
from pathlib import Path

import pytest
from deploy_support import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

sys.path.insert(0, str(ROOT / "tools"))
import lock  # noqa: E402

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)")


def pins(lock_file: Path) -> dict[str, str]:
    found = {}
    for line in (ROOT / lock_file).read_text().splitlines():
        if match := PIN.match(line):
            found[canonicalize_name(match[1])] = match[2]
    return found


def declared(requirements: list[str]) -> list[Requirement]:
    ours = {canonicalize_name(lock.project(ROOT, package)["name"]) for package in (*lock.PACKAGES, *lock.TEST_SUPPORT)}
    parsed = [Requirement(line) for line in requirements]
    return [requirement for requirement in parsed if canonicalize_name(requirement.name) not in ours]


def runtime_declarations() -> list[Requirement]:
    return declared([d for package in lock.PACKAGES for d in lock.project(ROOT, package).get("dependencies", [])])


def development_declarations() -> list[Requirement]:
    lines = []
    for package in lock.PACKAGES:
        for extra in lock.project(ROOT, package).get("optional-dependencies", {}).values():
            lines += extra
    for package in lock.TEST_SUPPORT:
        lines += lock.project(ROOT, package).get("dependencies", [])
    for requirements in lock.REQUIREMENTS:
        lines += [line.split("#")[0].strip() for line in (ROOT / requirements).read_text().splitlines()]
    return declared([line for line in lines if line])


def test_the_locks_were_made_from_the_declarations_as_they_are() -> None:
    assert lock.stale_locks() == [], "a pyproject.toml or requirements file changed since the lock: run `make lock`"


def test_a_changed_declaration_makes_the_locks_stale(tmp_path: Path) -> None:
    packages = (*lock.PACKAGES, *lock.TEST_SUPPORT)
    for path in [*(f"{package}/pyproject.toml" for package in packages), *lock.REQUIREMENTS]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    (tmp_path / "requirements").mkdir()
    for lock_file in (lock.RUNTIME_LOCK, lock.DEV_LOCK):
        shutil.copy(ROOT / lock_file, tmp_path / lock_file)
    assert lock.stale_locks(tmp_path) == []

    pyproject = tmp_path / "services" / "posts" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("dependencies = [", 'dependencies = ["left-pad>=1", ', 1))
    assert lock.stale_locks(tmp_path) == [lock.RUNTIME_LOCK, lock.DEV_LOCK]


@pytest.mark.parametrize(
    ("lock_file", "declarations"),
    [(lock.RUNTIME_LOCK, runtime_declarations), (lock.DEV_LOCK, development_declarations)],
    ids=["runtime", "dev"],
)
def test_every_declared_dependency_is_pinned_within_its_range(lock_file: Path, declarations) -> None:
    pinned = pins(lock_file)
    for requirement in declarations():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is declared but not pinned in {lock_file}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock_file} pins {name}=={pinned[name]}, outside the declared {requirement}"
        )


def test_the_tests_run_the_versions_the_images_ship() -> None:
    runtime, development = pins(lock.RUNTIME_LOCK), pins(lock.DEV_LOCK)
    assert {name: development.get(name) for name in runtime} == runtime


@pytest.mark.parametrize("lock_file", [lock.RUNTIME_LOCK, lock.DEV_LOCK], ids=["runtime", "dev"])
def test_every_pin_has_a_hash_and_no_index_is_written_in(lock_file: Path) -> None:
    text = (ROOT / lock_file).read_text()
    requirements = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert len(requirements) > 10
    for requirement in requirements:
        assert "--hash=sha256:" in requirement, f"{lock_file}: no hash for {requirement.splitlines()[0]}"
    for option in ("--index-url", "--extra-index-url", "--find-links", "file://", "http://", "https://"):
        assert option not in text, f"{lock_file} names a package source ({option}): the lock must work with any index"
