"""Over HTTP too, one bad trace fails alone, and the spool never sets aside good traces.

Issue 14: a batch the server refused (one trace in it bad) was set aside whole as ``.bad`` on
replay, 400 good traces with it, while the tracing process had counted them exported. Now a
refused batch is split until the bad trace is alone, live and on replay; only that trace is
set aside, and it counts failed. The real `mlflow server` refuses a trace name over 4,096
characters (HTTP 400); a lone surrogate cannot even be encoded as OTLP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from llmtrace._config import Config
from llmtrace.export._exporter_mlflow import MlflowSpanExporter
from llmtrace.export._http import traces_of_body
from llmtrace.export._processor import BatchingProcessor
from llmtrace.export._spool import SUFFIX, Spool, _read
from tests.conftest import free_port
from tests.export.handmade import POISON, stored, trace
from tests.team_helpers import OtlpStub

LONG = "a name over 4,096 characters"


def _batch(poison: str, good: int) -> list:
    spans = []
    for i in range(good):
        if i == good // 2:
            spans += POISON[poison]()
        spans += trace(f"good-{i:03d}")
    return spans


@pytest.fixture
def stub() -> Iterator[OtlpStub]:
    server = OtlpStub(free_port()).start()
    yield server
    server.stop()


def test_a_span_that_cannot_be_encoded_fails_alone(stub: OtlpStub, tmp_path: Path) -> None:
    exporter = MlflowSpanExporter(stub.url, "http")
    assert exporter.export(_batch("surrogate in the span name", 40)) is SpanExportResult.SUCCESS
    assert len(stub.accepted_spans()) == 80
    assert exporter.counters()["failed"] == 2


def test_spooling_keeps_the_good_traces_of_a_batch(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the batch is spooled
    spool = Spool(tmp_path, url, max_bytes=2**26)
    exporter = MlflowSpanExporter(url, "http", retries=0, spool=spool)
    assert exporter.export(_batch("surrogate in the span name", 40)) is SpanExportResult.SUCCESS
    c = exporter.counters()
    assert (c["spooled"], c["spool_pending"], c["failed"]) == (80, 80, 2)


@pytest.mark.slow
def test_a_refused_batch_is_split_until_the_bad_trace_is_alone(mlflow_server: str) -> None:
    proxy = OtlpStub(free_port(), upstream=mlflow_server).start()
    try:
        exporter = MlflowSpanExporter(proxy.url, "split-live")
        assert exporter.export(_batch(LONG, 400)) is SpanExportResult.SUCCESS
        assert exporter.counters()["failed"] == 2
        assert "HTTP 400" in (exporter.last_error or "")
        assert len(proxy.attempts) <= 2 * 9 + 1  # about 2·log2(401) requests, not 401
    finally:
        proxy.stop()
    traces = stored(mlflow_server, "split-live")
    assert sorted(traces) == [f"good-{i:03d}" for i in range(400)]


@pytest.mark.slow
def test_replay_sets_aside_only_the_refused_trace(mlflow_server: str, tmp_path: Path) -> None:
    """The batch is spooled while the server answers 503, then replayed against the real
    server, which refuses one trace of it: 400 stored, 1 set aside, the counters honest."""
    proxy = OtlpStub(free_port(), upstream=mlflow_server).start()
    spool = Spool(tmp_path, proxy.url, max_bytes=2**26)
    exporter = MlflowSpanExporter(proxy.url, "split-replay", retries=0, spool=spool)
    proxy.script.extend([(503, {})])
    processor = BatchingProcessor([exporter], Config(tracking_uri=proxy.url, schedule_delay_ms=10))
    try:
        exporter.experiment_id()  # resolved before the server "goes away"
        for span in _batch(LONG, 400):
            processor.on_end(span)
        assert processor.force_flush(60_000)
        assert processor.stats().spooled == 802  # (counted exported while the spool holds it)
        exporter._paused_until = 0.0
        assert processor.force_flush(120_000)  # replays the spool, if poll() did not already
        s = processor.stats()
        assert (s.replayed, s.spool_pending, s.exported, s.failed) == (800, 0, 800, 2)
        assert s.enqueued == s.exported + s.failed + s.dropped + s.queued
    finally:
        processor.shutdown()
        proxy.stop()
    assert sorted(stored(mlflow_server, "split-replay")) == [f"good-{i:03d}" for i in range(400)]
    bad = list(tmp_path.glob(f"*{SUFFIX}.bad"))
    assert len(bad) == 1 and list(tmp_path.glob(f"*{SUFFIX}")) == []
    header, body = _read(bad[0])
    assert header["spans"] == 2 and "HTTP 400" in header["why"]
    (refused,) = traces_of_body(body)
    assert sorted(len(u.span.name) for u in refused) == [5000, 5006]  # root and its child
