"""Batches are pipelined to the export process: sent without waiting for the answer, counted
queued until answered, never lost when the child dies or the store refuses them later.

The child is paused with SIGSTOP where a test needs batches in flight (a store slower than the
traced program, without timing), and killed with SIGKILL where it must die with them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

import llmtrace
from llmtrace.export import _export_process
from llmtrace.export._export_process import ProcessExporter
from tests.export.handmade import POISON, stored, stored_spans, trace

SUCCESS = SpanExportResult.SUCCESS


def _within(seconds: float, call: Callable[[], object]) -> object:
    """``call()`` in a thread: its result, or a failed test if it blocks (old sync path)."""
    box: list[object] = []
    worker = threading.Thread(target=lambda: box.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"{call} blocked for {seconds} s"
    return box[0]


@contextmanager
def _paused(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:  # the test killed it, or shutdown did
            pass


def _wait(predicate: Callable[[], bool], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _started(tmp_path: Path, experiment: str = "pipe") -> tuple[ProcessExporter, str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exporter = ProcessExporter(uri, experiment)
    assert exporter.export(trace("warm")) is SUCCESS
    assert exporter.force_flush(120_000)
    assert exporter._proc is not None
    return exporter, uri


def _identity(s: llmtrace.Stats) -> None:
    assert s.enqueued == s.exported + s.dropped + s.failed + s.queued


def test_batches_are_sent_without_waiting_for_the_answer(tmp_path: Path) -> None:
    exporter, uri = _started(tmp_path)
    assert exporter._proc is not None
    poison = POISON["surrogate in the span name"]()
    with _paused(exporter._proc.pid):
        for batch in (trace("a"), trace("b") + poison):
            assert _within(10, lambda b=batch: exporter.export(b)) is SUCCESS
        assert exporter.max_in_flight == 2
        assert exporter.counters()["pending"] == 6  # sent, not stored yet
        assert exporter.counters()["failed"] == 0
    assert exporter.force_flush(120_000)
    assert exporter.counters()["pending"] == 0
    assert exporter.counters()["failed"] == 2  # the poison trace, refused alone, answered late
    assert sorted(stored(uri, "pipe")) == ["a", "b", "warm"]
    exporter.shutdown()


def test_a_child_killed_with_batches_in_flight_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exporter, uri = _started(tmp_path)
    proc = exporter._proc
    assert proc is not None
    with _paused(proc.pid):
        for name in ("a", "b"):
            assert _within(10, lambda n=name: exporter.export(trace(n))) is SUCCESS
        assert exporter.counters()["pending"] == 4
        proc.kill()
        proc.wait(10)
    assert exporter.force_flush(120_000)  # the batches the child held, written in-process
    assert exporter.counters() == {**exporter.counters(), "pending": 0, "failed": 0}
    assert sorted(stored(uri, "pipe")) == ["a", "b", "warm"]
    assert "export process died" in caplog.text
    exporter.shutdown()


def test_shutdown_counts_batches_still_unanswered(tmp_path: Path) -> None:
    exporter, uri = _started(tmp_path)
    assert exporter._proc is not None
    with _paused(exporter._proc.pid):
        for name in ("a", "b"):
            assert _within(10, lambda n=name: exporter.export(trace(n))) is SUCCESS
        exporter.shutdown(timeout_millis=300)
    assert exporter.counters()["pending"] == 0
    assert exporter.counters()["failed"] == 4
    assert "unanswered" in (exporter.last_error or "")
    assert exporter._fallback is None  # no in-process MLflow at exit
    assert stored_spans(uri, "pipe") == 2


def test_shutdown_waits_for_the_batches_in_flight(tmp_path: Path) -> None:
    exporter, uri = _started(tmp_path)
    assert exporter._proc is not None
    with _paused(exporter._proc.pid):
        for name in ("a", "b"):
            assert _within(10, lambda n=name: exporter.export(trace(n))) is SUCCESS
    exporter.shutdown()
    assert exporter.counters()["failed"] == 0 and exporter.counters()["pending"] == 0
    assert sorted(stored(uri, "pipe")) == ["a", "b", "warm"]


def _configure(tmp_path: Path) -> tuple[ProcessExporter, str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(
        tracking_uri=uri, experiment="pipe", max_export_batch_size=8, schedule_delay_ms=5
    )
    with llmtrace.span("warm"):
        pass
    assert llmtrace.flush(120)
    pipeline = llmtrace._runtime.pipeline()
    assert pipeline is not None and isinstance(pipeline.mlflow_exporter, ProcessExporter)
    return pipeline.mlflow_exporter, uri


def _traces(n: int, prefix: str) -> None:
    for i in range(n):
        with llmtrace.span(f"{prefix}-{i}"), llmtrace.span("step"):
            pass


def test_flush_waits_for_the_answers(tmp_path: Path) -> None:
    exporter, uri = _configure(tmp_path)
    assert exporter._proc is not None
    with _paused(exporter._proc.pid):
        _traces(8, "t")  # 16 spans: two batches of 8 in flight
        _wait(lambda: exporter.counters()["pending"] == 16)
        assert llmtrace.flush(0.3) is False  # unanswered: not done
        s = llmtrace.stats()
        _identity(s)
        assert s.exported == 1 and s.queued == 16  # sent, not stored: queued, not exported
    assert llmtrace.flush(120)
    s = llmtrace.stats()
    _identity(s)
    assert s.exported == 17 and s.queued == 0 and s.failed == 0
    assert stored_spans(uri, "pipe") == 17  # readable as soon as flush returned


def test_a_store_that_refuses_batches_already_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exporter, _uri = _configure(tmp_path)
    assert exporter._proc is not None
    with caplog.at_level(logging.WARNING, logger="llmtrace"), _paused(exporter._proc.pid):
        _traces(8, "t")
        _wait(lambda: exporter.counters()["pending"] == 16)
        os.remove(tmp_path / "mlflow.db")  # the child finds the store gone: every batch fails
    assert llmtrace.flush(120)
    s = llmtrace.stats()
    _identity(s)
    assert (s.exported, s.failed, s.queued) == (1, 16, 0)
    assert s.last_error and "ProcessExporter" in s.last_error
    assert caplog.text.count("llmtrace could not export") == 1  # the first loss, once


def test_counters_stay_exact_when_the_child_is_killed_mid_stream(tmp_path: Path) -> None:
    exporter, uri = _configure(tmp_path)
    proc = exporter._proc
    assert proc is not None
    seen: list[llmtrace.Stats] = []
    for i in range(20):
        _traces(10, f"r{i}")
        seen.append(llmtrace.stats())
        if i == 10:
            proc.kill()
    assert llmtrace.flush(120)
    s = llmtrace.stats()
    for each in (*seen, s):
        _identity(each)
    assert s.enqueued == 401 and s.queued == 0 and s.dropped == 0
    assert s.exported + s.failed == 401
    assert stored_spans(uri, "pipe") == s.exported  # stored: exported, no more, no less
    assert exporter._fallback is not None


def test_depth_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_export_process, "IN_FLIGHT", 3)
    exporter, uri = _started(tmp_path)
    assert exporter._proc is not None
    sent: list[object] = []
    with _paused(exporter._proc.pid):
        sender = threading.Thread(
            target=lambda: sent.extend(exporter.export(trace(f"x{i}")) for i in range(4)),
            daemon=True,
        )
        sender.start()
        _wait(lambda: exporter.counters()["pending"] == 6)
        sender.join(0.3)
        assert sender.is_alive() and exporter.max_in_flight == 3  # the 4th waits for room
    sender.join(120)
    assert sent == [SUCCESS] * 4
    assert exporter.force_flush(120_000)
    assert stored_spans(uri, "pipe") == 10
    exporter.shutdown()
