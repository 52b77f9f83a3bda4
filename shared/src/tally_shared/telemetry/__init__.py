"""Logs, metrics and traces: every record carries the request id (and the trace id when traced),
every process counts what it does for Prometheus, and OpenTelemetry traces a request across
services and through the broker. The tracing SDK (`tracing_sdk`) is imported only by a process
that exports traces."""

from tally_shared.telemetry.logs import REQUEST_ID_HEADER, clean_request_id, configure_logging, request_id_var
from tally_shared.telemetry.tracing import (
    configure_tracing,
    current_trace_context,
    trace_context_from,
    tracing_enabled,
)

__all__ = [
    "REQUEST_ID_HEADER",
    "clean_request_id",
    "configure_logging",
    "configure_tracing",
    "current_trace_context",
    "request_id_var",
    "trace_context_from",
    "tracing_enabled",
]
