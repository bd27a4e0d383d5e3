"""The batching processor: batches end at a root span, so traces reach the store whole."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import llmtrace


class BatchRecorder(SpanExporter):
    """Keeps each batch it is handed (an OTel exporter of our own, not a stand-in for MLflow)."""

    def __init__(self) -> None:
        self.batches: list[list[ReadableSpan]] = []
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(10)
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS


def test_full_batches_end_at_a_root_and_no_trace_is_split() -> None:
    recorder = BatchRecorder()
    llmtrace.configure(
        export_to_mlflow=False,
        exporters=[recorder],
        max_export_batch_size=8,
        schedule_delay_ms=5_000,
    )

    @llmtrace.trace
    def leaf(i: int) -> int:
        return i

    @llmtrace.trace
    def root(n: int) -> list[int]:
        return [leaf(i) for i in range(2)]

    for n in range(20):  # 60 spans queued while the exporter is held: batches of up to 8
        root(n)
    recorder.release.set()
    assert llmtrace.flush(10)

    spans = [s for batch in recorder.batches for s in batch]
    assert len(spans) == 60 and llmtrace.stats().exported == 60
    traces_seen: set[int] = set()
    for batch in recorder.batches:
        assert len(batch) <= 8
        here = {s.context.trace_id for s in batch}
        assert not here & traces_seen, "a trace was split across batches"
        traces_seen |= here
        assert batch[-1].parent is None  # each batch ends with a root
    assert len(recorder.batches) >= 60 // 8  # cut to whole traces: 6 spans per batch
