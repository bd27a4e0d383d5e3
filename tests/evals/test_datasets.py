"""Datasets from traces: built from feedback, saved as MLflow GenAI datasets, versioned,
evaluated by name from Python and the CLI."""

from __future__ import annotations

import json
import time
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import evals
import llmtrace
from evals.datasets import _store
from llmtrace.cli import app

CASES = [
    ("capital of France?", "Lyon", False, "Paris"),
    ("2+2?", "4", True, "4"),
    ("capital of Spain?", "Madrid", True, None),
    ("largest ocean?", "Atlantic", False, "Pacific"),
]


def _trace(question: str, answer: str, session: str | None = None) -> str:
    if session:
        with llmtrace.session(session), llmtrace.span("answer") as root:
            root.set_inputs({"question": question})
            root.set_outputs(answer)
    else:
        with llmtrace.span("answer") as root:
            root.set_inputs({"question": question})
            root.set_outputs(answer)
    time.sleep(0.005)
    return root.trace_id


def _app_traces() -> list[str]:
    ids = []
    for question, answer, helpful, expected in CASES:
        trace_id = _trace(question, answer)
        llmtrace.log_feedback(trace_id, "helpful", helpful)
        if expected is not None:
            llmtrace.log_expectation(trace_id, "expected_response", expected)
        ids.append(trace_id)
    return ids


def _by_trace(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["source"]["source_data"]["trace_id"]: r for r in records}


def test_from_traces_takes_inputs_outputs_expectations_and_ids(backend: str) -> None:
    ids = _app_traces()
    ds = evals.datasets.from_traces(feedback={"helpful": False}, name="regressions")
    assert (ds.name, ds.version, ds.storage, ds.ref) == (
        "regressions", 1, "mlflow_dataset", "dataset:regressions@1",
    )  # fmt: skip
    by_trace = _by_trace(ds.records)
    assert set(by_trace) == {ids[0], ids[3]}
    assert by_trace[ids[0]]["inputs"] == {"question": "capital of France?"}
    assert by_trace[ids[0]]["outputs"] == "Lyon"
    assert by_trace[ids[0]]["expectations"] == {"expected_response": "Paris"}
    assert by_trace[ids[3]]["expectations"] == {"expected_response": "Pacific"}

    # MLflow's own client reads the same dataset: name, tags, experiment, records.
    client = MlflowClient(tracking_uri=backend)
    stored = client.get_dataset(ds.dataset_id)
    assert stored.name == "regressions"
    assert stored.tags["llmtrace.dataset.version"] == "1"
    assert stored.tags["llmtrace.dataset.digest"] == ds.digest
    experiment = client.get_experiment_by_name(llmtrace.current_config().experiment)
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(backend)
    try:
        frame = mlflow.genai.datasets.get_dataset(dataset_id=ds.dataset_id).to_df()
        assert experiment.experiment_id in stored.experiment_ids
    finally:
        mlflow.set_tracking_uri(before)
    got = {}
    for row in frame.to_dict("records"):
        trace_id = row["source"].source_data["trace_id"]
        got[trace_id] = (row["inputs"], row["outputs"], row["expectations"])
    assert got == {
        ids[0]: ({"question": "capital of France?"}, "Lyon", {"expected_response": "Paris"}),
        ids[3]: ({"question": "largest ocean?"}, "Atlantic", {"expected_response": "Pacific"}),
    }


def test_filters_session_feedback_specs_and_unsaved(sqlite_uri: str) -> None:
    ids = _app_traces()
    other = _trace("hello?", "hi", session="conv-7")
    llmtrace.log_feedback(other, "rating", 2)
    llmtrace.log_feedback(ids[1], "rating", 5)
    assert set(_by_trace(evals.datasets.from_traces(session="conv-7").records)) == {other}
    assert set(_by_trace(evals.datasets.from_traces(feedback="rating<=2").records)) == {other}
    assert set(
        _by_trace(evals.datasets.from_traces(feedback=["rating", "helpful=true"]).records)
    ) == {ids[1]}
    assert len(evals.datasets.from_traces(filter_string="status = 'OK'").records) == 5
    unsaved = evals.datasets.from_traces(feedback={"helpful": True})
    assert unsaved.version is None and unsaved.dataset_id is None
    assert MlflowClient(sqlite_uri).search_datasets() == []
    with pytest.raises(ValueError, match="no traces in experiment 'tests' match") as caught:
        evals.datasets.from_traces(feedback={"helpful": "maybe"}, name="x")
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="dataset name 'a@b'"):
        evals.datasets.from_traces(name="a@b")


def test_traces_with_the_same_inputs_are_one_case_the_newest_wins(sqlite_uri: str) -> None:
    _trace("same?", "old answer")
    newer = _trace("same?", "new answer")
    ds = evals.datasets.from_traces(name="dupes")
    assert [(r["outputs"], r["source"]["source_data"]["trace_id"]) for r in ds.records] == [
        ("new answer", newer)
    ]


@pytest.mark.parametrize("storage", ["mlflow_dataset", "jsonl_artifact"])
def test_versions_keep_earlier_records_readable(
    sqlite_uri: str, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if storage == "jsonl_artifact":  # what a store without GenAI datasets (a file store) gets
        monkeypatch.setattr(_store, "_has_datasets", lambda uri: False)
    ids = _app_traces()
    v1 = evals.datasets.from_traces(feedback={"helpful": False}, name="qa")
    assert v1.storage == storage
    again = evals.datasets.from_traces(feedback={"helpful": False}, name="qa")
    assert (again.version, again.digest) == (1, v1.digest)  # nothing new: no new version
    llmtrace.log_expectation(ids[2], "expected_response", "Madrid")
    v2 = evals.datasets.from_traces(feedback={"helpful": True}, name="qa")
    assert v2.version == 2 and v2.digest != v1.digest
    assert set(_by_trace(v2.records)) == set(ids)  # version 1's records and the new ones
    assert evals.datasets.versions("qa") == [1, 2]
    old = evals.datasets.load("dataset:qa@1")
    assert (old.version, old.digest, old.records) == (1, v1.digest, v1.records)
    assert evals.datasets.load("qa").version == 2
    assert evals.datasets.load("qa", 2).records == v2.records
    v3 = evals.datasets.from_traces(feedback={"helpful": True}, name="qa", replace=True)
    assert v3.version == 3 and set(_by_trace(v3.records)) == {ids[1], ids[2]}
    with pytest.raises(ValueError, match="dataset 'qa' has no version 9; versions: 1, 2, 3"):
        evals.datasets.load("qa@9")
    with pytest.raises(ValueError, match="no dataset 'nope' in sqlite"):
        evals.datasets.load("dataset:nope")


def test_evaluate_a_dataset_by_name_records_name_version_digest(sqlite_uri: str) -> None:
    _app_traces()
    v1 = evals.datasets.from_traces(feedback={"helpful": False}, name="reg")
    v2 = evals.datasets.from_traces(feedback={"helpful": True}, name="reg")
    for ref, expected in (("dataset:reg", v2), ("dataset:reg@1", v1)):
        result = evals.evaluate(ref, [evals.metrics.exact_match()], progress=False)
        assert len(result.rows) == len(expected.records)
        assert {r.trace_id for r in result.rows} == set(_by_trace(expected.records))
        params = MlflowClient(sqlite_uri).get_run(result.run_id).data.params
        assert params["dataset.name"] == "reg"
        assert params["dataset.version"] == str(expected.version)
        assert params["dataset.version_digest"] == expected.digest
        assert params["dataset.id"] == expected.dataset_id
    scores = {
        r.trace_id: s.value for r, s in zip(result.rows, result.scores["exact_match"], strict=True)
    }
    assert sorted(scores.values()) == [0.0, 0.0]  # Lyon != Paris, Atlantic != Pacific


def test_cli_eval_run_reads_a_dataset(sqlite_uri: str) -> None:
    _app_traces()
    ds = evals.datasets.from_traces(feedback={"helpful": True}, name="good")
    llmtrace.flush()
    runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"})
    args = ["eval", "run", "dataset:good@1", "-m", "exact_match", "--json"]
    result = runner.invoke(app, [*args, "--tracking-uri", sqlite_uri, "-e", "tests"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["rows"] == len(ds.records) == 2
    params = MlflowClient(sqlite_uri).get_run(payload["run_id"]).data.params
    assert (params["dataset.name"], params["dataset.version"]) == ("good", "1")
    bad = runner.invoke(app, ["eval", "run", "dataset:missing", "-m", "exact_match",
                              "--tracking-uri", sqlite_uri, "-e", "tests"])  # fmt: skip
    assert bad.exit_code != 0 and "no dataset 'missing'" in bad.stderr
