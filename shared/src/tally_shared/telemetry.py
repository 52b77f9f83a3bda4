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
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_configured = False


class _RootsThatAreWork(Sampler):
    """Samples a new trace when it starts with work (a request, an event, a publish), not with
    a client call that no work caused.

    Those would be a trace of one span each, many a second: an idle relay polling its
    outbox, the gateway reloading its revocation list, readiness probes. Spans under a
    sampled parent are decided by the parent (ParentBased), so nothing inside a
    request's or an event's trace is lost.
    """

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "RootsThatAreWork"


def configure_tracing(service_name: str, *, span_processor: SpanProcessor | None = None) -> bool:
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
        # Imported only when exporting: the exporter pulls in protobuf and requests.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_processor = BatchSpanProcessor(OTLPSpanExporter())
    # OTEL_SERVICE_NAME, when set, names the process instead (OpenTelemetry's own rule).
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    # OTEL_TRACES_SAMPLER, when set, is read by the SDK instead of our sampler.
    sampler = None if os.environ.get("OTEL_TRACES_SAMPLER") else ParentBased(root=_RootsThatAreWork())
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
    provider.add_span_processor(span_processor)
    trace.set_tracer_provider(provider)
    # The driver, not SQLAlchemy: the SQLAlchemy instrumentation refuses SQLAlchemy 2.1.
    AsyncPGInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    AioPikaInstrumentor().instrument()
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
