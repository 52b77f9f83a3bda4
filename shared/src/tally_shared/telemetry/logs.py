"""Logging that carries the request id: one record per line, as text for people or JSON for collectors."""

import logging
import sys
import uuid
from contextvars import ContextVar

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from tally_shared.settings import LogFormat

REQUEST_ID_HEADER = "X-Request-ID"
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str:
    """The client's id when it is safe to log and forward, else a new one."""
    if value and len(value) <= 128 and value.isascii() and value.isprintable() and " " not in value:
        return value
    return new_request_id()


class _RequestIdFilter(logging.Filter):
    def __init__(self, process_name: str, missing_request_id: str | None) -> None:
        super().__init__()
        self.process_name = process_name
        self.missing_request_id = missing_request_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or self.missing_request_id
        record.process_name = self.process_name
        record.trace_id, record.span_id = _current_trace_and_span_id()
        return True


def _current_trace_and_span_id() -> tuple[str | None, str | None]:
    """The ids of OpenTelemetry's current span, in its own hex form, when one is recording."""
    span = trace.get_current_span()
    if not span.is_recording():
        return None, None
    context = span.get_span_context()
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def _json_formatter() -> logging.Formatter:
    return JsonFormatter(
        ["levelname", "process_name", "name", "message", "request_id", "trace_id", "span_id"],
        rename_fields={"levelname": "level", "process_name": "service", "name": "logger", "exc_info": "exception"},
        # A timezone-aware UTC datetime, written in ISO 8601 with its offset (+00:00).
        timestamp="time",
    )


def _text_formatter() -> logging.Formatter:
    return logging.Formatter(
        "%(asctime)s %(levelname)s %(process_name)s request_id=%(request_id)s %(name)s: %(message)s"
    )


def configure_logging(process_name: str, level: str = "INFO", log_format: LogFormat = "text") -> None:
    """One record per line on stderr, with the process and request id.

    `text` is for people reading a terminal; `json` is one object per line, with the
    keys time, level, service, logger, message, request_id, trace_id and span_id
    (null outside a request or a recording span) and exception when there is one.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.addFilter(_RequestIdFilter(process_name, missing_request_id=None))
        handler.setFormatter(_json_formatter())
    else:
        handler.addFilter(_RequestIdFilter(process_name, missing_request_id="-"))
        handler.setFormatter(_text_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's access log would repeat what the metrics middleware already counts,
    # without the request id; its error log goes through our handler.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every request at INFO; the gateway's metrics already count them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
