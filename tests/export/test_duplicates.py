"""A trace id the store holds for another trace is refused, counted and warned about — never
merged into or overwriting the stored trace.

Issue 14: with ids that follow `random.seed()` (OTel's default id generator, as a program's own
tracer provider may use), 97 of 100 traces overwrote each other while every span was counted
exported, with no warning. A trace that arrives in several batches is still one trace.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from llmtrace.export._exporter_mlflow import MlflowSpanExporter
from tests.export.handmade import span, stored, trace


@pytest.fixture(params=["bulk", "log_spans"])
def exporter(request: pytest.FixtureRequest, tmp_path: Path) -> MlflowSpanExporter:
    made = MlflowSpanExporter(f"sqlite:///{tmp_path / 'mlflow.db'}", "dupes")
    if request.param == "log_spans":
        made._bulk = False  # the path of stores the bulk writer does not serve
    return made


def test_another_root_under_a_stored_trace_id_is_refused(
    exporter: MlflowSpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    trace_id = secrets.randbits(128)
    assert exporter.export(trace("first", trace_id)) is SpanExportResult.SUCCESS
    others = trace("second", trace_id) + trace("third", trace_id)
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        result = exporter.export(others + trace("unrelated"))
    assert result is SpanExportResult.SUCCESS
    assert stored(exporter.tracking_uri, "dupes") == {
        "first": ["first", "first.child"],  # untouched: nothing merged into it
        "unrelated": ["unrelated", "unrelated.child"],
    }
    assert exporter.counters()["failed"] == 4
    assert "already stored" in (exporter.last_error or "")
    warnings = [r.getMessage() for r in caplog.records if "already stored" in r.getMessage()]
    assert len(warnings) == 1 and "random.seed()" in warnings[0]
    assert sum("already stored" in r.getMessage() for r in caplog.records) == 1


def test_same_ids_at_another_time_are_another_trace(exporter: MlflowSpanExporter) -> None:
    """What a seeded id generator repeats: the trace id and the span ids."""
    trace_id, root_id = secrets.randbits(128), secrets.randbits(64)
    assert exporter.export(trace("first", trace_id, root_id)) is SpanExportResult.SUCCESS
    again = trace("again", trace_id, root_id, start=time.time_ns() + 5_000_000)
    assert exporter.export(again) is SpanExportResult.FAILURE  # the whole batch: counted there
    assert stored(exporter.tracking_uri, "dupes") == {"first": ["first", "first.child"]}


def test_a_trace_sent_again_or_in_pieces_is_still_one_trace(
    exporter: MlflowSpanExporter,
) -> None:
    trace_id, root_id = secrets.randbits(128), secrets.randbits(64)
    start = time.time_ns()
    early = span("early", trace_id, secrets.randbits(64), root_id, start=start + 1)
    late = span("late", trace_id, secrets.randbits(64), root_id, start=start + 2)
    root = trace("session", trace_id, root_id, start=start)
    assert exporter.export([early]) is SpanExportResult.SUCCESS  # children first
    assert exporter.export(root) is SpanExportResult.SUCCESS  # the root later
    assert exporter.export([late]) is SpanExportResult.SUCCESS  # a child ending after it
    assert exporter.export(root) is SpanExportResult.SUCCESS  # the same spans again (a retry)
    assert stored(exporter.tracking_uri, "dupes") == {
        "session": ["early", "late", "session", "session.child"]
    }
    assert exporter.counters()["failed"] == 0


def test_a_seeded_foreign_tracer_loses_no_trace_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = MlflowSpanExporter(f"sqlite:///{tmp_path / 'mlflow.db'}", "seeded")
    provider = TracerProvider()  # OTel's default ids: from the global `random`
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        for i in range(5):
            random.seed(7)  # what evaluation code does before each request
            with tracer.start_as_current_span(f"request-{i}"):
                with tracer.start_as_current_span("step"):
                    time.sleep(0.002)
        provider.shutdown()
    traces = stored(exporter.tracking_uri, "seeded")
    assert len(traces) == 1 and sorted(next(iter(traces.values()))) == ["request-0", "step"]
    assert exporter.counters()["failed"] == 0  # one span per export: each refusal is a FAILURE
    assert "already stored" in (exporter.last_error or "")
    warnings = [r.getMessage() for r in caplog.records if "already stored" in r.getMessage()]
    assert len(warnings) == 1 and "random.seed()" in warnings[0]
