"""The export process: store writes leave the traced program; losses still counted."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from mlflow import MlflowClient

import llmtrace
from llmtrace.export._export_process import ProcessExporter
from llmtrace.export._wire import decode_spans, encode_spans


def _stored(uri: str, experiment: str) -> list[str]:
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    traces = client.search_traces(locations=[exp.experiment_id], max_results=500)
    return sorted(t.info.tags["mlflow.traceName"] for t in traces)


def _exporter() -> ProcessExporter:
    pipeline = llmtrace._runtime.pipeline()
    assert pipeline is not None
    exporter = pipeline.mlflow_exporter
    assert isinstance(exporter, ProcessExporter)
    return exporter


def test_spans_are_written_by_a_child_process(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="proc")
    with llmtrace.session("s-1", user="u"), llmtrace.span("first", kind="CHAIN") as s:
        s.set_outputs({"answer": 42})
    assert llmtrace.flush(120)
    exporter = _exporter()
    assert exporter._proc is not None and exporter._proc.pid != os.getpid()
    assert exporter._proc.poll() is None and exporter._fallback is None
    trace = MlflowClient(tracking_uri=uri).get_trace(s.trace_id)
    assert trace.info.trace_metadata["mlflow.trace.session"] == "s-1"
    assert trace.data.spans[0].outputs == {"answer": 42}
    llmtrace.shutdown()
    assert exporter._proc is None


def test_child_killed_midway_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="proc")
    with llmtrace.span("before"):
        pass
    assert llmtrace.flush(120)
    exporter = _exporter()
    assert exporter._proc is not None
    os.kill(exporter._proc.pid, signal.SIGKILL)
    exporter._proc.wait(10)
    with llmtrace.span("after"):
        pass
    assert llmtrace.flush(120)
    assert _stored(uri, "proc") == ["after", "before"]
    assert exporter._fallback is not None
    assert "export process died" in caplog.text
    assert llmtrace.stats().failed == 0


def test_child_that_cannot_open_the_store_counts_without_falling_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process writing would fail the same way (with MLflow's tracebacks in the traced
    program, issue 14): the spans are counted failed, and the child is tried again later."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    llmtrace.configure(tracking_uri=f"sqlite:///{blocker / 'mlflow.db'}", experiment="x")
    with llmtrace.span("lost"):
        pass
    assert llmtrace.flush(120)
    assert "export process did not start" in caplog.text
    stats = llmtrace.stats()
    assert stats.failed == 1 and stats.exported == 0 and stats.last_error
    assert _exporter()._fallback is None


def test_wire_round_trip_keeps_everything(memory: object) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    assert isinstance(memory, InMemorySpanExporter)
    with llmtrace.span("outer", attributes={"k": 1, "tags": ["a", "b"]}) as outer:
        outer.add_event("e", {"n": 2})
        with pytest.raises(ValueError), llmtrace.span("inner"):
            raise ValueError("x")
    llmtrace.flush()
    original = memory.get_finished_spans()
    decoded = decode_spans(encode_spans(original))
    for a, b in zip(original, decoded, strict=True):
        assert a.to_json() == b.to_json()
