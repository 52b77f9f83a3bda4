"""tally_shared's public surface: each part declares what it offers in `__all__`, every name
there exists, and the services, the gateway and their migrations use nothing else."""

import importlib
import re
from pathlib import Path

import pytest

import tally_shared

PARTS = ("db", "events", "web", "internal", "telemetry")
ROOT = Path(__file__).resolve().parents[2]
# An import from a module inside a part (`tally_shared.web.state`), not from the part itself.
INNER_IMPORT = re.compile(rf"^\s*from tally_shared\.(?:{'|'.join(PARTS)})\.\w+ import", re.MULTILINE)


def test_the_package_names_its_parts_in_its_docstring():
    for part in PARTS:
        assert f"`{part}`" in (tally_shared.__doc__ or ""), part


@pytest.mark.parametrize("part", PARTS)
def test_every_public_name_of_a_part_exists(part):
    module = importlib.import_module(f"tally_shared.{part}")
    assert module.__doc__, f"tally_shared.{part} says in its docstring what it is for"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_the_services_and_the_gateway_import_only_the_parts():
    sources = [
        path
        for folder in ("services", "gateway")
        for path in (ROOT / folder).rglob("*.py")
        if "tests" not in path.relative_to(ROOT).parts
    ]
    assert len(sources) > 40, "the services' sources were not found"
    offenders = [str(path.relative_to(ROOT)) for path in sources if INNER_IMPORT.search(path.read_text())]
    assert offenders == []
