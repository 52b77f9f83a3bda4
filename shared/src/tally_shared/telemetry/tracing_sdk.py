"""The OpenTelemetry SDK set up for a traced process: imported by `telemetry.configure_tracing`
only when the process is traced, so that an untraced one neither loads nor pays for it."""

import os
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes


class RootsThatAreWork(Sampler):
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


def install_tracing(service_name: str, span_processor: SpanProcessor | None) -> None:
    """The process's tracer provider, exporting over OTLP/HTTP unless `span_processor` says
    otherwise, and the instrumentation of the libraries Tally talks through."""
    # OTEL_SERVICE_NAME, when set, names the process instead (OpenTelemetry's own rule).
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    # OTEL_TRACES_SAMPLER, when set, is read by the SDK instead of our sampler.
    sampler = None if os.environ.get("OTEL_TRACES_SAMPLER") else ParentBased(root=RootsThatAreWork())
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
    provider.add_span_processor(span_processor or BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # The driver, not SQLAlchemy: the SQLAlchemy instrumentation (0.66b1) refuses SQLAlchemy 2.1.
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]  # its __init__ is not annotated
    HTTPXClientInstrumentor().instrument()
    AioPikaInstrumentor().instrument()
