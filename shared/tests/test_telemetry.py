"""Tracing is configured by the standard OTEL_* variables: nothing without an OTLP endpoint,
OTLP/HTTP export with the process's service name with one.

Each case runs in a fresh interpreter: a process configures tracing once, for good.
"""

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class OtlpReceiver(http.server.ThreadingHTTPServer):
    """Accepts OTLP/HTTP exports, as a collector would, and keeps them."""

    def __init__(self) -> None:
        self.exports: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                receiver.exports.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()
    receiver.server_close()


# A request's server span with a statement under it, then a statement that no work caused
# (an idle relay's poll): only the first two may be exported, when the process exits.
PROCESS = """
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from tally_shared.telemetry import configure_tracing

print(configure_tracing("tally-votes-api"))
tracer = trace.get_tracer("test")
with tracer.start_as_current_span("POST /vote", kind=SpanKind.SERVER):
    with tracer.start_as_current_span("INSERT", kind=SpanKind.CLIENT):
        pass
with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
    pass
print(type(trace.get_tracer_provider()).__name__)
"""


def run_process(**variables: str) -> list[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.update(variables)
    result = subprocess.run(
        [sys.executable, "-c", PROCESS], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stderr == "", result.stderr
    return result.stdout.split()


def test_without_an_otlp_endpoint_nothing_is_configured():
    assert run_process() == ["False", "ProxyTracerProvider"]


def test_otel_sdk_disabled_wins_over_an_endpoint(otlp_receiver):
    endpoint = f"http://127.0.0.1:{otlp_receiver.server_port}"
    assert run_process(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SDK_DISABLED="true") == [
        "False",
        "ProxyTracerProvider",
    ]
    assert otlp_receiver.exports == []


def test_with_an_otlp_endpoint_spans_are_exported_over_http_with_the_service_name(otlp_receiver):
    endpoint = f"http://127.0.0.1:{otlp_receiver.server_port}"
    assert run_process(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint) == ["True", "TracerProvider"]

    assert set(otlp_receiver.paths) == {"/v1/traces"}
    resource_spans = [spans for export in otlp_receiver.exports for spans in export.resource_spans]
    service_names = {
        attribute.value.string_value
        for spans in resource_spans
        for attribute in spans.resource.attributes
        if attribute.key == "service.name"
    }
    assert service_names == {"tally-votes-api"}
    names = sorted(span.name for spans in resource_spans for scope in spans.scope_spans for span in scope.spans)
    # The statement that no request or event caused started no trace of its own.
    assert names == ["INSERT", "POST /vote"]


def test_otel_service_name_names_the_process_instead(otlp_receiver):
    endpoint = f"http://127.0.0.1:{otlp_receiver.server_port}"
    run_process(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="votes-canary")

    [name] = {
        attribute.value.string_value
        for export in otlp_receiver.exports
        for spans in export.resource_spans
        for attribute in spans.resource.attributes
        if attribute.key == "service.name"
    }
    assert name == "votes-canary"
