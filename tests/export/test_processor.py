"""The batching processor: batches end at a root span, so traces reach the store whole."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import llmtrace
from llmtrace.export import _processor


class BatchRecorder(SpanExporter):
    """Keeps each batch it is handed (an OTel exporter of our own, not a stand-in for MLflow)."""

    def __init__(self) -> None:
        self.batches: list[list[ReadableSpan]] = []
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(10)
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS

    def names(self) -> list[str]:
        return [s.name for batch in self.batches for s in batch]


@pytest.fixture
def recording() -> BatchRecorder:
    """llmtrace exporting to a recorder that takes each batch at once, every 10 ms."""
    recorder = BatchRecorder()
    recorder.release.set()
    llmtrace.configure(export_to_mlflow=False, exporters=[recorder], schedule_delay_ms=10)
    return recorder


@llmtrace.trace(name="step")
def step(i: int) -> int:
    return i


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


def test_children_wait_for_their_root_unless_a_flush_wants_them(
    recording: BatchRecorder,
) -> None:
    with llmtrace.span("first-root"):
        step(1)
        step(2)
        time.sleep(0.3)  # ~30 wake-ups of the export thread
        assert recording.names() == []  # the children wait for their root
    assert llmtrace.flush(10)
    assert recording.names() == ["step", "step", "first-root"]
    assert len(recording.batches) == 1  # one batch: the whole trace

    with llmtrace.span("second-root"):
        step(3)
        assert llmtrace.flush(10)  # a flush inside a trace takes its finished children
        assert recording.names()[-1] == "step"
    assert llmtrace.flush(10)
    assert recording.names()[-1] == "second-root"
    assert llmtrace.stats().exported == 5


def test_children_of_a_long_running_root_are_not_held_forever(
    recording: BatchRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_processor, "HOLD_MAX_S", 0.2)
    with llmtrace.span("whole-session"):
        step(1)
        time.sleep(0.1)
        assert recording.batches == []  # held for its root a while
        deadline = time.monotonic() + 5
        while not recording.batches and time.monotonic() < deadline:
            time.sleep(0.02)
        assert recording.names() == ["step"]  # then sent anyway
    assert llmtrace.flush(10)
    assert llmtrace.stats().exported == 2
