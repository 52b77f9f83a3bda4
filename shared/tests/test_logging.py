"""configure_logging: text by default, one JSON object per line with LOG_FORMAT=json."""

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from tally_shared.settings import TallySettings
from tally_shared.telemetry import configure_logging, logs, request_id_var


@pytest.fixture(autouse=True)
def empty_tables() -> None:
    """These tests touch no database: this replaces conftest's fixture of the same name."""


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def no_log_format_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("TALLY_LOG_FORMAT", raising=False)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_json_writes_one_object_per_record_with_the_request_id_and_the_exception(capsys):
    configure_logging("posts-worker", "INFO", "json")
    logger = logging.getLogger("posts.events")

    token = request_id_var.set("req-123")
    try:
        logger.info("applied %s\nsecond line", "vote.cast")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("could not apply")
    finally:
        request_id_var.reset(token)
    logger.warning("outside any request")

    lines = log_lines(capsys)
    assert len(lines) == 3
    applied, failed, outside = (json.loads(line) for line in lines)

    assert set(applied) == {"time", "level", "service", "logger", "message", "request_id", "trace_id", "span_id"}
    assert applied["level"] == "INFO"
    assert applied["service"] == "posts-worker"
    assert applied["logger"] == "posts.events"
    assert applied["message"] == "applied vote.cast\nsecond line"
    assert applied["request_id"] == "req-123"
    assert applied["trace_id"] is None and applied["span_id"] is None
    time = datetime.fromisoformat(applied["time"])
    assert time.utcoffset() is not None
    assert re.search(r"[+-]\d\d:\d\d$", applied["time"])

    assert failed["level"] == "ERROR"
    assert failed["message"] == "could not apply"
    assert failed["request_id"] == "req-123"
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert failed["exception"].endswith("ValueError: boom")

    assert outside["level"] == "WARNING"
    assert outside["request_id"] is None
    assert "exception" not in outside


def test_json_carries_the_ids_of_a_recording_opentelemetry_span(capsys, monkeypatch):
    span_context = SimpleNamespace(trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0x00F067AA0BA902B7)
    span = SimpleNamespace(is_recording=lambda: True, get_span_context=lambda: span_context)
    fake_trace = SimpleNamespace(
        get_current_span=lambda: span,
        format_trace_id=lambda trace_id: format(trace_id, "032x"),
        format_span_id=lambda span_id: format(span_id, "016x"),
    )
    monkeypatch.setattr(logs, "trace", fake_trace)
    configure_logging("gateway", "INFO", "json")

    logging.getLogger("gateway").info("proxied")

    [record] = [json.loads(line) for line in log_lines(capsys)]
    assert record["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert record["span_id"] == "00f067aa0ba902b7"


def test_text_is_the_default_format(capsys, no_log_format_variables):
    settings = TallySettings()
    assert settings.log_format == "text"
    configure_logging("auth", settings.log_level, settings.log_format)

    logging.getLogger("auth.routes").info("registered")

    [line] = log_lines(capsys)
    assert re.fullmatch(r"\S+ \S+ INFO auth request_id=- auth\.routes: registered", line)


@pytest.mark.parametrize("variable", ["LOG_FORMAT", "TALLY_LOG_FORMAT"])
def test_the_format_is_read_from_either_variable(monkeypatch, no_log_format_variables, variable):
    monkeypatch.setenv(variable, "json")

    assert TallySettings().log_format == "json"


def test_an_unknown_format_is_refused_at_start_up(monkeypatch, no_log_format_variables):
    monkeypatch.setenv("LOG_FORMAT", "yaml")

    with pytest.raises(ValidationError, match="Input should be 'text' or 'json'"):
        TallySettings()
