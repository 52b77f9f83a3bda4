"""The package Tally's services have in common.

Modules: `settings`, `database`, `events` (envelope and event types), `outbox`
(write events with the change), `relay` (publish them), `broker` (topology),
`consumer` (apply them exactly once), `identity` (the gateway's assertion of
who is calling), `http` (middleware, health, readiness, metrics), `errors`,
`telemetry` (OpenTelemetry tracing; `tracing_sdk`, loaded only by a traced
process), `text` (text fields PostgreSQL can store), `idempotency`
(`Idempotency-Key` on writes), `expiry` (purging rows whose time is up),
`migrations`, `dbsetup`, `preflight`, `process`.
"""

__all__: list[str] = []
