"""Reading back: our store only, never creating anything, MLflow's global URI untouched."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

import llmtrace


def test_search_traces_reads_without_side_effects(sqlite_uri: str) -> None:
    with llmtrace.span("one"):
        pass
    before = mlflow.get_tracking_uri()
    traces = llmtrace.search_traces()
    assert [t.info.tags["mlflow.traceName"] for t in traces] == ["one"]
    frame = llmtrace.search_traces(return_type="pandas")
    assert list(frame["trace_id"]) == [traces[0].info.trace_id]
    assert mlflow.get_tracking_uri() == before
    with pytest.raises(llmtrace.LLMTraceError, match="no experiment 'nope'"):
        llmtrace.search_traces(experiment="nope")
    assert MlflowClient(tracking_uri=sqlite_uri).get_experiment_by_name("nope") is None


def test_get_trace_of_an_unknown_id_is_a_clear_error(sqlite_uri: str) -> None:
    with llmtrace.span("known") as span:
        known = span.trace_id
    assert llmtrace.get_trace(known).info.trace_id == known
    for bad in ("tr-00000000000000000000000000000000", "not-a-trace", ""):
        with pytest.raises(llmtrace.TraceNotFoundError, match="no trace") as caught:
            llmtrace.get_trace(bad)
        assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_search_traces_pages_past_the_servers_500_limit(mlflow_server: str) -> None:
    """An MLflow server refuses max_results > 500 per request: llmtrace asks page by page."""
    llmtrace.configure(tracking_uri=mlflow_server, experiment="paging", schedule_delay_ms=20)
    for i in range(503):
        with llmtrace.span(f"t{i}"):
            pass
    found = llmtrace.search_traces(max_results=1000)
    assert len(found) == 503 and len({t.info.trace_id for t in found}) == 503
    assert len(llmtrace.search_traces(max_results=501)) == 501
