"""What a backlog really holds in the traced process stays within what the byte bound counts.

Issue 17: 20,000 traces with 2 KB inputs grew the traced process by ~111 MB in a tight loop.
Each queued span kept the live span's empty event and link lists (a deque and a lock each,
~1.9 KB), which the byte estimate did not count, so a full queue held ~1.6x `max_queue_bytes`
(448 MB for a 256 MB bound, measured).
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import llmtrace
from llmtrace import Stats, _runtime


def identity(s: Stats) -> bool:
    return s.enqueued == s.exported + s.dropped + s.failed + s.queued


@llmtrace.trace
def call(value: object) -> int:
    return 1


@llmtrace.trace
def nested(value: object) -> int:
    with llmtrace.span("step"):
        pass
    return 2


class Held(SpanExporter):
    """Holds the first batch until the gate opens: everything after it waits in the queue."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.holding = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.holding.set()
        self.gate.wait(30)
        return SpanExportResult.SUCCESS


@pytest.mark.parametrize(
    ("func", "payload_chars"),
    [(call, 2040), (nested, 2040), (call, 0)],
    ids=["2KB-inputs", "2KB-inputs-2-spans", "tiny-inputs"],
)
def test_a_full_queue_holds_no_more_memory_than_the_byte_bound(
    func: object, payload_chars: int
) -> None:
    held = Held()
    bound = 6 * 1024 * 1024
    llmtrace.configure(
        export_to_mlflow=False,
        exporters=[held],
        schedule_delay_ms=1,
        max_queue_bytes=bound,
        max_export_batch_size=4,
    )
    call("warm-up")
    assert held.holding.wait(10)
    processor = _runtime.pipeline().processor  # type: ignore[union-attr]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(8_000):  # a tight loop, far more than the bound holds
            func(f"{i:08d}" + "x" * payload_chars)  # type: ignore[operator]
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        counted = processor._bytes
        s = llmtrace.stats()
    finally:
        tracemalloc.stop()
        held.gate.set()
    assert identity(s)
    assert counted <= bound
    if payload_chars:
        assert s.dropped > 0, s  # the byte bound, not the span count, stopped the queue
    # What the queued spans really hold (plus a few batches in the threads' hands) is within
    # what llmtrace counts against max_queue_bytes.
    assert grown <= 1.2 * counted + 256 * 1024, (grown, counted, s)
    assert llmtrace.flush(30)
    s = llmtrace.stats()
    assert identity(s) and s.queued == 0 and s.failed == 0


class _Slotted:
    """A span of another SDK whose class has ``__slots__``: nothing can be stored on it."""

    __slots__ = ("_inner",)

    def __init__(self, inner: ReadableSpan) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_the_byte_count_holds_for_spans_that_cannot_carry_their_size() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llmtrace._config import Config
    from llmtrace.export._processor import BatchingProcessor

    tracer = TracerProvider().get_tracer("t")
    ended = []
    for i in range(10):
        live = tracer.start_span(f"s{i}")
        live.end()
        ended.append(live._readable_span())
    spans = [s if i % 2 else _Slotted(s) for i, s in enumerate(ended)]
    exporter = InMemorySpanExporter()
    config = Config(tracking_uri="", schedule_delay_ms=60_000, max_export_batch_size=512)
    processor = BatchingProcessor([exporter], config, size_of=lambda span: 500)
    try:
        for span in spans:
            processor.on_end(span)  # type: ignore[arg-type]
        assert processor._bytes == 5000 and len(processor._sizes) == 5  # counted while queued
        assert processor.force_flush(30_000)
        assert processor._bytes == 0 and not processor._sizes  # and released, every one
        assert len(exporter.get_finished_spans()) == 10
    finally:
        processor.shutdown()
