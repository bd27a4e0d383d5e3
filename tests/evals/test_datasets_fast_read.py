"""`from_traces` reads a SQLite store straight from its tables, and builds the dataset MLflow's
client path builds; an MLflow server is read through MLflow's client."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

import mlflow
import pytest
from mlflow.entities import AssessmentSource, Trace

import evals
import evals.datasets
import llmtrace
from llmtrace.views import read_traces
from llmtrace.views._stored import StoredTrace

CASES = [  # question, answer, helpful, rating, expected, session
    ("capital of France?", "Lyon", False, 1, "Paris", None),
    ("2+2?", "4", True, 5, "4", "conv-1"),
    ("capital of Spain?", "Madrid", True, 3, None, "conv-1"),
    ("largest ocean?", "Atlantic", False, 2, "Pacific", "conv-2"),
    ("tallest peak?", {"answer": "Everest"}, None, None, "Everest", "conv-2"),
    ("it's quoted?", ["a", 1], "maybe", 4, None, None),
    ("conv-3 first", "x", None, None, None, "conv-3"),
    ("conv-3 second", "y", None, None, None, "conv-3"),
]

FILTERS: list[dict[str, Any]] = [
    {},
    {"filter_string": "status = 'OK'"},
    {"session": "conv-1"},
    {"session": "conv-2", "feedback": {"helpful": False}},
    {"feedback": {"helpful": False}},
    {"feedback": {"helpful": True}},
    {"feedback": {"helpful": "maybe"}},
    {"feedback": {"rating": 5}},
    {"feedback": "rating<=2"},
    {"feedback": "rating>3"},
    {"feedback": "helpful!=false"},
    {"feedback": ["rating", "helpful=true"]},
    {"feedback": "helpful"},
    {"feedback": "overridden=true"},  # the first value was replaced: no longer valid
    {"feedback": "overridden=false"},
    {"feedback": "session_wide=true"},  # logged on a session: covers its traces, as in MLflow
    {"filter_string": "expectation.`expected_response` = 'Paris'"},
    {"filter_string": "feedback.`rating` IS NULL"},
    {"filter_string": "feedback.`session_wide` IS NULL AND name = 'answer'"},
    {"filter_string": "tags.`missing` IS NULL", "feedback": {"helpful": False}},
]


def _store() -> list[str]:
    ids = []
    for question, answer, helpful, rating, expected, session in CASES:
        with llmtrace.session(session) if session else nullcontext():
            with llmtrace.span("answer") as root:
                root.set_inputs({"question": question})
                if len(ids) % 2:  # a child span, started after the root, not its record
                    with llmtrace.span("retrieve", kind="RETRIEVER") as child:
                        child.set_inputs({"query": "child"})
                        child.set_outputs([{"page_content": "doc"}])
                root.set_outputs(answer)
        time.sleep(0.003)
        ids.append(root.trace_id)
        if helpful is not None:
            llmtrace.log_feedback(ids[-1], "helpful", helpful, rationale="because")
        if rating is not None:
            llmtrace.log_feedback(ids[-1], "rating", rating)
        if expected is not None:
            llmtrace.log_expectation(ids[-1], "expected_response", expected)
    llmtrace.flush()
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(llmtrace.current_config().tracking_uri)
    try:
        first = llmtrace.log_feedback(ids[0], "overridden", True)
        mlflow.override_feedback(trace_id=ids[0], assessment_id=first.assessment_id, value=False)
        mlflow.log_feedback(
            trace_id=ids[6],
            name="session_wide",
            value=True,
            source=AssessmentSource(source_type="HUMAN", source_id="t"),
            metadata={"mlflow.trace.session": "conv-3"},
        )
    finally:
        mlflow.set_tracking_uri(before)
    return ids


def _slow(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> evals.datasets.Dataset:
    with monkeypatch.context() as m:
        m.setattr(evals.datasets, "_FAST_READ", False)
        return evals.datasets.from_traces(**kwargs)


def test_fast_and_mlflow_paths_build_the_same_dataset(
    sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _store()
    nonempty = 0
    for kwargs in FILTERS:
        where = evals.datasets._records.trace_filter(
            kwargs.get("filter_string"), kwargs.get("session"), kwargs.get("feedback")
        )
        fast = read_traces(where, tracking_uri=sqlite_uri, experiment="tests", max_results=50)
        slow = read_traces(
            where, tracking_uri=sqlite_uri, experiment="tests", max_results=50, fast=False
        )
        assert all(isinstance(t, StoredTrace) for t in fast), kwargs  # no fallback
        assert all(isinstance(t, Trace) for t in slow), kwargs
        assert [t.info.trace_id for t in fast] == [t.info.trace_id for t in slow], kwargs
        roots = read_traces(where, tracking_uri=sqlite_uri, experiment="tests", roots_only=True)
        assert [t.info.trace_id for t in roots] == [t.info.trace_id for t in slow], kwargs
        assert all([s.name for s in t.data.spans] == ["answer"] for t in roots), kwargs
        try:
            ours = evals.datasets.from_traces(**kwargs)
        except ValueError as exc:
            assert "no traces" in str(exc)
            with pytest.raises(ValueError, match="no traces"):
                _slow(monkeypatch, **kwargs)
            continue
        theirs = _slow(monkeypatch, **kwargs)
        assert ours.records == theirs.records, kwargs  # records, expectations, ids, order
        assert ours.digest == theirs.digest
        nonempty += 1
    assert nonempty >= 15  # the filters above do select traces
    # Spot checks that the filters mean what they say (on both paths, as they are equal).
    picked = {
        "overridden=false": evals.datasets.from_traces(feedback="overridden=false"),
        "session_wide=true": evals.datasets.from_traces(feedback="session_wide=true"),
        "rating>3": evals.datasets.from_traces(feedback="rating>3"),
    }
    trace_ids = {
        k: {r["source"]["source_data"]["trace_id"] for r in v.records} for k, v in picked.items()
    }
    assert trace_ids == {
        "overridden=false": {ids[0]},
        "session_wide=true": {ids[6], ids[7]},
        "rating>3": {ids[1], ids[5]},
    }
    with pytest.raises(ValueError, match="no traces"):
        evals.datasets.from_traces(feedback="overridden=true")


def test_saved_versions_are_equal_on_both_paths(
    sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store()
    ours = evals.datasets.from_traces(feedback="helpful", name="fast")
    theirs = _slow(monkeypatch, feedback="helpful", name="slow")
    assert (ours.version, theirs.version) == (1, 1)
    assert ours.records == theirs.records and len(ours.records) == 5
    assert evals.datasets.load("fast").records == evals.datasets.load("slow").records


def test_unsupported_filter_is_answered_by_mlflow(sqlite_uri: str) -> None:
    ids = _store()
    configured = read_traces(max_results=50)  # the configured store and experiment
    assert [t.info.trace_id for t in configured] == ids[::-1]  # newest first
    where = "span.name = 'answer' AND feedback.`helpful` = 'false'"
    found = read_traces(where, tracking_uri=sqlite_uri, experiment="tests", max_results=50)
    assert found and all(isinstance(t, Trace) for t in found)  # MLflow's own objects
    ds = evals.datasets.from_traces(filter_string="span.name = 'answer'", feedback="helpful=false")
    assert len(ds.records) == 2


@pytest.mark.slow
def test_a_server_is_read_through_mlflows_client(mlflow_server: str) -> None:
    llmtrace.configure(tracking_uri=mlflow_server, experiment="fast-read-fallback")
    ids = _store()
    found = read_traces(
        "feedback.`helpful` = 'false'", tracking_uri=mlflow_server, experiment="fast-read-fallback"
    )
    assert {t.info.trace_id for t in found} == {ids[0], ids[3]}
    assert all(isinstance(t, Trace) for t in found)
    ds = evals.datasets.from_traces(feedback={"helpful": False}, name="server-regressions")
    assert ds.storage == "mlflow_dataset"
    assert {r["source"]["source_data"]["trace_id"] for r in ds.records} == {ids[0], ids[3]}
    assert {r["expectations"]["expected_response"] for r in ds.records} == {"Paris", "Pacific"}
