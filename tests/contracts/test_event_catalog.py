"""The event catalog (tally_shared.events.asyncapi.EVENT_CATALOG) says what each service really does.

Consumers are read from the handlers each worker runs; producers from the event classes
named in the modules that call `record_event`, so a new event or handler that is not in
the catalog (and so not in /asyncapi.json) fails here.
"""

import ast
from pathlib import Path

import pytest

import gateway.worker
import posts.events
import votes.events
from tally_shared.events import EVENT_CATALOG, EVENT_TYPES, consumed_by, produced_by

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "auth": ROOT / "services/auth/src/auth",
    "posts": ROOT / "services/posts/src/posts",
    "votes": ROOT / "services/votes/src/votes",
    "gateway": ROOT / "gateway/src/gateway",
}
WORKER_HANDLERS = {
    "auth": {},
    "posts": {**posts.events.HANDLERS, **posts.events.BATCH_HANDLERS},
    "votes": votes.events.HANDLERS,
    "gateway": gateway.worker.HANDLERS,
}
EVENT_CLASS_NAMES = {event_class.__name__: event_class for event_class in EVENT_TYPES.values()}


def recorded_events(package: Path) -> set[type]:
    """The event classes named in the service's modules that record events in their outbox."""
    recorded = set()
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text())
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        if "record_event" in names:
            recorded |= {EVENT_CLASS_NAMES[name] for name in names if name in EVENT_CLASS_NAMES}
    return recorded


def test_every_event_type_is_in_the_catalog():
    assert set(EVENT_CATALOG) == set(EVENT_TYPES.values())


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_the_catalog_names_what_each_service_consumes(service):
    assert consumed_by(service) == set(WORKER_HANDLERS[service])


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_the_catalog_names_what_each_service_produces(service):
    assert produced_by(service) == recorded_events(SOURCES[service])
