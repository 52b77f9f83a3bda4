"""The package Tally's services have in common, in five parts and two modules:

- `db`: PostgreSQL: the engine and the one unit of work, migrations, setup, preflight.
- `events`: the event backbone: events, outbox, relay, broker, inbox, consumer, AsyncAPI.
- `web`: what every HTTP app has: app factory, middleware, dependencies, errors, inputs.
- `internal`: the internal HTTP contracts between services, with their typed clients.
- `telemetry`: logs, metrics and traces.
- `settings`: the settings every process reads; `process`: how a long-running process stops.

Import from the parts (`from tally_shared.web import SessionDep`): each declares its public
names in `__all__`; the modules inside them are how a part is built.
"""

__all__: list[str] = []
