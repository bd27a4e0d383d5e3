"""The export threads cannot die, and `enqueued == exported + dropped + failed + queued` always.

Issue 14: a `BaseException` raised by a user object while its span was being prepared killed the
export thread (every later span lost, counters frozen at zero).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace import Stats


class Interrupting:
    """An argument whose serialization raises KeyboardInterrupt (a BaseException)."""

    def __getattr__(self, name: str) -> object:
        raise KeyboardInterrupt

    def __repr__(self) -> str:
        raise KeyboardInterrupt


class Exiting:
    def __repr__(self) -> str:
        raise SystemExit(3)


def identity(s: Stats) -> bool:
    return s.enqueued == s.exported + s.dropped + s.failed + s.queued


@llmtrace.trace
def call(value: object) -> str:
    return "ok"


def test_a_keyboard_interrupt_from_getattr_does_not_kill_the_export_thread(
    memory: InMemorySpanExporter,
) -> None:
    assert call(Interrupting()) == "ok"
    assert call(Exiting()) == "ok"
    for i in range(5):
        call(i)
    assert llmtrace.flush(10)
    names = [s.name for s in memory.get_finished_spans()]
    assert names.count("call") == 7  # the two bad ones too (with a placeholder), and the rest
    s = llmtrace.stats()
    assert (s.enqueued, s.exported, s.failed, s.dropped, s.queued) == (7, 7, 0, 0, 0)
    assert s.serialization_errors == 2


class BaseExceptionExporter(SpanExporter):
    """An exporter that raises a BaseException on its first batch, then works."""

    def __init__(self) -> None:
        self.calls = 0
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        if self.calls == 1:
            raise SystemExit("exporter bug")
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def test_an_exporter_raising_a_base_exception_fails_its_batch_only() -> None:
    exporter = BaseExceptionExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[exporter], schedule_delay_ms=10)
    call(1)
    assert llmtrace.flush(10)
    call(2)
    assert llmtrace.flush(10)
    s = llmtrace.stats()
    assert (s.enqueued, s.exported, s.failed) == (2, 1, 1)
    assert "exporter bug" in (s.last_error or "")
    assert len(exporter.spans) == 1


class SlowExporter(SpanExporter):
    """Takes 2 ms a batch and refuses every third one."""

    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        time.sleep(0.002)
        self.calls += 1
        return SpanExportResult.FAILURE if self.calls % 3 == 0 else SpanExportResult.SUCCESS


def test_the_counter_identity_holds_at_every_moment() -> None:
    """Sampled while spans are queued, prepared, exported, failed and dropped concurrently."""
    llmtrace.configure(
        export_to_mlflow=False,
        exporters=[SlowExporter()],
        schedule_delay_ms=1,
        max_queue_size=300,
        max_export_batch_size=16,
    )
    broken: list[Stats] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            s = llmtrace.stats()
            if not identity(s):
                broken.append(s)

    watcher = threading.Thread(target=watch)
    watcher.start()
    deadline = time.monotonic() + 2.0
    n = 0
    while time.monotonic() < deadline:
        call(n)
        n += 1
    llmtrace.flush(10)
    stop.set()
    watcher.join()
    final = llmtrace.stats()
    assert not broken, broken[:3]
    assert identity(final) and final.queued == 0
    assert final.enqueued == n
    assert final.dropped > 0 and final.failed > 0 and final.exported > 0  # all paths exercised


def test_shutdown_with_spans_left_counts_them_dropped() -> None:
    never = threading.Event()

    class Stuck(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            never.wait(1.0)
            return SpanExportResult.SUCCESS

    llmtrace.configure(
        export_to_mlflow=False, exporters=[Stuck()], schedule_delay_ms=1, max_export_batch_size=4
    )
    for i in range(40):
        call(i)
    from llmtrace import _runtime

    pipeline = _runtime.pipeline()
    assert pipeline is not None
    pipeline.processor.shutdown(timeout_millis=300)
    s = pipeline.processor.stats()
    assert identity(s)
    assert s.enqueued == 40 and s.dropped > 0


def test_the_queue_is_bounded_in_bytes_and_drops_are_counted() -> None:
    """2 MB inputs while the exporter is held: the queue stops near max_queue_bytes."""
    gate = threading.Event()

    class Held(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            gate.wait(20)
            return SpanExportResult.SUCCESS

    llmtrace.configure(
        export_to_mlflow=False,
        exporters=[Held()],
        schedule_delay_ms=1,
        max_queue_bytes=20 * 1024 * 1024,
        max_export_batch_size=2,
    )
    for i in range(40):
        call("x" * (2 * 1024 * 1024) + str(i))  # a fresh 2 MB string each time
    s = llmtrace.stats()
    assert identity(s)
    # 20 MB holds ~9 such spans queued; two batches of 2 may be held by the threads
    assert 25 <= s.dropped <= 33, s
    gate.set()
    assert llmtrace.flush(20)
    s = llmtrace.stats()
    assert identity(s) and s.queued == 0
    assert s.exported + s.dropped == 40


def test_small_spans_are_not_limited_by_the_byte_bound(memory: InMemorySpanExporter) -> None:
    for i in range(2_000):
        call(i)
    assert llmtrace.flush(20)
    s = llmtrace.stats()
    assert (s.exported, s.dropped) == (2_000, 0)
