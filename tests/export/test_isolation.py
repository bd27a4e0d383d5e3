"""One bad trace fails alone: the rest of its batch is stored, the loss is counted exactly.

Issue 14: a lone surrogate or a trace name over 4,096 characters in one trace of a batch made
the SQLite path count the whole batch failed (while the other traces were stored) and turn
its bulk write path off for the rest of the process. Spans are made by hand (`handmade`) and
given to the exporters directly; everything is read back with MLflow's own client.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from llmtrace._config import Config
from llmtrace.export import _sql_bulk
from llmtrace.export._export_process import ProcessExporter
from llmtrace.export._exporter_mlflow import MlflowSpanExporter
from llmtrace.export._processor import BatchingProcessor
from tests.export.handmade import POISON, stored, trace

BULK = mlflow.__version__.startswith(_sql_bulk.CHECKED_MLFLOW)


def _batch(poison: str, good: int = 400) -> list:
    """``good`` good traces with the poisoned one in the middle (two spans each)."""
    spans = []
    for i in range(good):
        if i == good // 2:
            spans += POISON[poison]()
        spans += trace(f"good-{i:03d}")
    return spans


@pytest.mark.parametrize("poison", sorted(POISON))
def test_a_poisoned_trace_fails_alone_and_the_bulk_path_stays_on(
    tmp_path: Path, poison: str
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exporter = MlflowSpanExporter(uri, "poison")
    assert exporter.export(_batch(poison)) is SpanExportResult.SUCCESS
    traces = stored(uri, "poison")
    assert sorted(traces) == [f"good-{i:03d}" for i in range(400)]
    assert traces["good-007"] == ["good-007", "good-007.child"]
    assert exporter.counters()["failed"] == 2  # the bad trace's two spans, not 802
    assert exporter.last_error
    if BULK:
        assert exporter._bulk is True  # one trace's data says nothing about the store
    # and the next batch is stored whole, through the same path
    assert exporter.export(trace("after")) is SpanExportResult.SUCCESS
    assert "after" in stored(uri, "poison")
    assert exporter.counters()["failed"] == 2


def test_a_batch_of_only_bad_traces_is_a_failure_counted_once(tmp_path: Path) -> None:
    exporter = MlflowSpanExporter(f"sqlite:///{tmp_path / 'mlflow.db'}", "poison")
    bad = POISON["surrogate in the inputs"]() + POISON["a name over 4,096 characters"]()
    assert exporter.export(bad) is SpanExportResult.FAILURE  # the caller counts all four
    assert exporter.counters()["failed"] == 0  # ... so they are not counted here as well
    assert "surrogates" in (exporter.last_error or "") or "4096" in (exporter.last_error or "")


def test_the_log_spans_path_isolates_too(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exporter = MlflowSpanExporter(uri, "poison")
    exporter._bulk = False  # as for stores the bulk path does not serve (PostgreSQL...)
    spans = _batch("surrogate in an event attribute", good=40)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert len(stored(uri, "poison")) == 40
    assert exporter.counters()["failed"] == 2


@pytest.mark.slow
def test_the_export_process_reports_the_refused_spans(tmp_path: Path) -> None:
    """The worker answers per batch with the number of spans it could not store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exporter = ProcessExporter(uri, "poison")
    try:
        assert exporter.export(_batch("surrogate in the session id")) is SpanExportResult.SUCCESS
        assert exporter.force_flush(120_000)  # the answer comes after export() returned
        assert exporter._fallback is None  # the child did it
        assert exporter.counters()["failed"] == 2
        assert "surrogates" in (exporter.last_error or "")
    finally:
        exporter.shutdown()
    assert len(stored(uri, "poison")) == 400


@pytest.mark.slow
def test_the_counters_are_exact_through_the_processor(tmp_path: Path) -> None:
    """401 traces in one batch, one bad: stats() says 800 exported and 2 failed."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exporter = ProcessExporter(uri, "poison")
    processor = BatchingProcessor(
        [exporter], Config(tracking_uri=uri, schedule_delay_ms=10, max_export_batch_size=1024)
    )
    try:
        for span in _batch("a name over 4,096 characters"):
            processor.on_end(span)
        assert processor.force_flush(120_000)
        s = processor.stats()
        assert (s.enqueued, s.exported, s.failed, s.dropped, s.queued) == (802, 800, 2, 0, 0)
    finally:
        processor.shutdown()
    assert len(stored(uri, "poison")) == 400
