"""What `evaluate` leaves in MLflow, read back with MLflow's own client (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eval_apps import DATA, QUESTIONS, TinyJudge, judged_correct, make_traces
from mlflow import MlflowClient

import llmtrace
from evals import evaluate, load_rows, metrics
from evals._logging import dataset_digest


def read_json_artifact(client: MlflowClient, run_id: str, path: str, dst: Path) -> Any:
    local = client.download_artifacts(run_id, path, str(dst))
    return json.loads(Path(local).read_text())


def test_run_params_metrics_and_table(backend: str, tmp_path: Path) -> None:
    judge = TinyJudge()
    result = evaluate(
        DATA,
        [metrics.exact_match(), metrics.rouge_l(use_stemmer=True), judged_correct],
        judge=judge,
        experiment="evals-tests",
        run_name="baseline",
        budget_usd=1.0,
    )
    client = MlflowClient(backend)
    run = client.get_run(result.run_id)
    assert run.info.run_name == "baseline" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "evals-tests"
    params = run.data.params
    assert params["metrics"] == "exact_match,rouge_l,judged_correct"
    assert params["metric.rouge_l.use_stemmer"] == "True"
    assert params["metric.judged_correct.version"] == "2"
    assert params["metric.exact_match.threshold"] == "1.0"
    assert params["judge.model"] == "tiny-judge"
    assert params["judge.prompt_version.judged_correct"] == "3"
    assert params["budget_usd"] == "1.0"
    assert params["dataset.rows"] == "3"
    assert params["dataset.digest"] == dataset_digest(load_rows(DATA))
    logged = run.data.metrics
    assert logged["exact_match/mean"] == pytest.approx(1 / 3)
    assert logged["judged_correct/pass_rate"] == pytest.approx(2 / 3)
    assert logged["judge/calls"] == 3.0
    assert logged["judge/cost_usd"] == pytest.approx(0.03)
    assert logged["eval/rows"] == 3.0 and logged["eval/unscored_by_budget"] == 0.0
    assert {k: v for k, v in result.metrics.items()} == {
        k: v for k, v in logged.items() if not k.startswith(("judge/", "eval/"))
    }
    table = read_json_artifact(client, result.run_id, "eval/rows.json", tmp_path)
    columns, rows = table["columns"], table["data"]
    assert len(rows) == 3
    as_dicts = [dict(zip(columns, r, strict=True)) for r in rows]
    assert [r["exact_match/value"] for r in as_dicts] == [1.0, 0.0, 0.0]
    assert [r["question"] for r in as_dicts] == [d["question"] for d in DATA]
    summary = read_json_artifact(client, result.run_id, "eval/summary.json", tmp_path / "s")
    assert summary["aggregates"]["rouge_l"]["n_scored"] == 3
    assert summary["judge_usage"]["calls"] == 3


def test_same_data_same_digest_and_changes_change_it() -> None:
    assert dataset_digest(load_rows(DATA)) == dataset_digest(load_rows([dict(d) for d in DATA]))
    changed = [*DATA[:2], {**DATA[2], "expected": "Madrid!"}]
    assert dataset_digest(load_rows(DATA)) != dataset_digest(load_rows(changed))


def test_scores_are_attached_to_their_traces(backend: str) -> None:
    ids = make_traces()
    frame = llmtrace.search_traces(return_type="pandas")
    expected = dict(QUESTIONS)
    frame["expected"] = [expected[r["question"]] for r in frame["request"]]
    frame["reference_contexts"] = [[expected[r["question"]]] for r in frame["request"]]
    result = evaluate(
        frame,
        [metrics.token_f1(), metrics.non_llm_context_precision(), judged_correct],
        judge=TinyJudge(),
    )
    client = MlflowClient(backend)
    for trace_id in ids:
        trace = client.get_trace(trace_id)
        found = {a.name: a for a in trace.info.assessments}
        assert set(found) == {"token_f1", "non_llm_context_precision", "judged_correct"}
        row = result.table[result.table["trace_id"] == trace_id].iloc[0]
        f1 = found["token_f1"]
        assert f1.value == row["token_f1/value"]
        assert f1.source.source_type == "CODE" and f1.source.source_id == "evals.token_f1"
        assert f1.metadata["mlflow.assessment.sourceRunId"] == result.run_id
        judged = found["judged_correct"]
        assert judged.source.source_type == "LLM_JUDGE" and judged.source.source_id == "tiny-judge"
        assert judged.rationale == "judge says so"
        assert judged.metadata["judge_prompt_version"] == "3"
        precision = found["non_llm_context_precision"]
        if row["non_llm_context_precision/error"]:  # nothing retrieved: the error is shown
            assert precision.value is None
            assert "nothing retrieved" in precision.error.error_message
        else:
            assert precision.value == row["non_llm_context_precision/value"]
            assert precision.rationale == row["non_llm_context_precision/reason"]
    population = result.table[result.table["question"].str.contains("population")].iloc[0]
    assert population["non_llm_context_precision/error"] is None  # retrieved the Paris doc
    run = client.get_run(result.run_id)
    linked = client.search_traces(locations=[run.info.experiment_id], run_id=result.run_id)
    assert {t.info.trace_id for t in linked} == set(ids)


def test_no_logging_when_asked(sqlite_uri: str) -> None:
    ids = make_traces()
    result = evaluate(llmtrace.search_traces(), [metrics.latency()], log_to_mlflow=False)
    assert result.run_id is None
    client = MlflowClient(sqlite_uri)
    assert all(not client.get_trace(i).info.assessments for i in ids)
    exp = client.get_experiment_by_name("tests")
    assert client.search_runs([exp.experiment_id]) == []


def test_unknown_trace_id_is_reported_and_the_other_scores_are_logged(sqlite_uri: str) -> None:
    ids = make_traces()
    data = [{"trace_id": ids[0], "answer": "x"}, {"trace_id": "tr-0000000000000000", "answer": "y"}]
    result = evaluate(data, [metrics.answer_length()])
    assert result.table["answer_words/value"].tolist() == [1.0, 1.0]  # scores kept
    assert result.log_error is not None and "1 of 2 scores" in result.log_error
    assert "tr-0000000000000000" in result.log_error
    client = MlflowClient(sqlite_uri)
    assert [a.name for a in client.get_trace(ids[0]).info.assessments] == ["answer_words"]
    run = client.get_run(result.run_id)
    assert run.info.status == "FAILED"  # incomplete logging shows in the runs list
    assert run.data.metrics["answer_words/mean"] == 1.0


def test_the_run_is_a_child_of_the_active_run_in_the_same_experiment(sqlite_uri: str) -> None:
    client = MlflowClient(sqlite_uri)
    with llmtrace.start_run(run_name="nightly") as parent:
        child = evaluate(DATA, [metrics.exact_match()])
        elsewhere = evaluate(DATA, [metrics.exact_match()], experiment="evals-elsewhere")
    run = client.get_run(child.run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert run.data.tags["llmtrace.evaluation"] == "true"
    assert run.info.experiment_id == parent.info.experiment_id
    other = client.get_run(elsewhere.run_id)  # MLflow nests runs within one experiment only
    assert "mlflow.parentRunId" not in other.data.tags
    assert client.get_experiment(other.info.experiment_id).name == "evals-elsewhere"
    assert llmtrace.current_config().experiment == "tests"  # evaluate reconfigured nothing


@pytest.mark.slow
def test_processes_opening_a_new_store_at_once_agree_on_the_experiment(tmp_path: Path) -> None:
    """Parallel evaluation jobs on a new SQLite file: one creates the schema, all get one id."""
    env = {
        **os.environ,
        "LLMTRACE_TRACKING_URI": f"sqlite:///{tmp_path / 'new.db'}",
        "LLMTRACE_EXPERIMENT": "evals-parallel",
    }
    code = "import llmtrace; print(llmtrace.experiment_id())"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outcomes = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    ids = {out.decode().strip() for out, _ in outcomes}
    assert len(ids) == 1
    (found,) = MlflowClient(env["LLMTRACE_TRACKING_URI"]).search_experiments(
        filter_string="name = 'evals-parallel'"
    )
    assert ids == {found.experiment_id}
