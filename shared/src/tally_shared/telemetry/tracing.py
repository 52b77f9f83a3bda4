"""OpenTelemetry tracing: every process's spans, exported over OTLP when the standard variables say where.

`configure_tracing` is called once by each process's entry point (the app
factories, the relays, the workers). Without `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) it does nothing: no provider, no
instrumentation, only OpenTelemetry's no-op API behind the few spans Tally
starts itself. Otherwise the SDK exports in batches over OTLP/HTTP, and every
other `OTEL_*` variable (headers, timeouts, `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`) works as documented by
OpenTelemetry.

What is traced: HTTP requests (FastAPI's own OpenTelemetry support, which
turns itself on once a tracer provider is set), the gateway's calls to the
services (aiohttp), the services' calls to each other (httpx), every SQL
statement (asyncpg, the driver of every process's engine), every publish and
delivery (aio-pika), and the consumer's batches and events (consumer.py). The
trace context of the request that wrote an outbox row travels in the row's
envelope, so the relay publishes, and the consumer applies, the event in that
request's trace.
"""

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate
from opentelemetry.context import Context

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_configured = False


def configure_tracing(service_name: str, *, span_processor: "SpanProcessor | None" = None) -> bool:
    """Trace this process as `service_name` (e.g. `tally-votes-api`); whether it is traced.

    Exports over OTLP when an OTLP endpoint variable is set, and not at all otherwise
    (nor when `OTEL_SDK_DISABLED=true`). `span_processor` replaces the exporter (tests
    pass the SDK's in-memory exporter). Only the first call of a process configures
    anything: a process is one service, and later calls keep what the first set.
    """
    global _configured
    if _configured:
        return True
    if span_processor is None:
        if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return False
        if not any(os.environ.get(variable) for variable in OTLP_ENDPOINT_VARIABLES):
            return False
    # Imported only now: an untraced process does not even load the SDK.
    from tally_shared.telemetry.tracing_sdk import install_tracing

    install_tracing(service_name, span_processor)
    _configured = True
    return True


def tracing_enabled() -> bool:
    """Whether `configure_tracing` set this process up to trace."""
    return _configured


def current_trace_context() -> dict[str, str]:
    """The current span's context as W3C headers (`traceparent`, `tracestate`); empty when nothing is traced."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def trace_context_from(headers: Mapping[str, Any] | None) -> Context:
    """The trace context carried in `headers` (an event's, a message's), or an empty one."""
    carrier = {
        name: value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in (headers or {}).items()
        if isinstance(value, str | bytes)
    }
    return propagate.extract(carrier)
