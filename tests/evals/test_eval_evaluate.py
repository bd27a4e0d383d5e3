"""`evaluate`: rows in, scores out; errors per cell; judges, budgets, concurrency; predict."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from eval_apps import DATA, QUESTIONS, TinyJudge, judged_correct, make_traces, rag
from mlflow import MlflowClient

import evals
import llmtrace
from evals import MetricError, Row, Score, evaluate, metrics


def test_scores_table_and_aggregates() -> None:
    result = evaluate(
        DATA,
        [metrics.exact_match, metrics.token_f1(), metrics.contains(threshold=1.0)],
        log_to_mlflow=False,
    )
    assert result.run_id is None
    table = result.table
    assert list(table["question"]) == [d["question"] for d in DATA]
    assert list(table["exact_match/value"]) == [1.0, 0.0, 0.0]
    f1_rome = 2 * (1 / 3) * 1 / (1 / 3 + 1)  # tokens: rome, is, capital ("the" dropped)
    assert list(table["token_f1/value"]) == pytest.approx([1.0, f1_rome, 0.0])
    assert list(table["contains/value"]) == [1.0, 1.0, 0.0]
    assert set(table.columns) >= {"exact_match/reason", "exact_match/error", "token_f1/error"}
    em = result.aggregates["exact_match"]
    assert em == {
        "mean": pytest.approx(1 / 3),
        "p50": 0.0,
        "pass_rate": pytest.approx(1 / 3),
        "threshold": 1.0,
        "n_scored": 3,
        "n_errors": 0,
        "n_budget": 0,
    }
    assert result.aggregates["token_f1"]["pass_rate"] is None  # no threshold
    assert result.aggregates["contains"]["pass_rate"] == pytest.approx(2 / 3)
    assert result.metrics["token_f1/mean"] == pytest.approx((1 + f1_rome) / 3)
    summary = result.summary()
    assert list(summary.index) == ["exact_match", "token_f1", "contains"]
    assert summary.loc["token_f1", "pass_rate"] is None  # None, not NaN
    assert result.judge_usage == {} and result.unscored_by_budget == 0


def test_one_rows_failure_keeps_the_other_scores() -> None:
    @evals.metric
    def picky(answer: str) -> float:
        if answer == "Lisbon":
            raise MetricError("Lisbon is not allowed")
        if answer.startswith("Rome"):
            raise ZeroDivisionError("bug in the metric")
        return 1.0

    result = evaluate(DATA, [picky, metrics.exact_match()], log_to_mlflow=False)
    assert result.table["picky/value"].tolist() == [1.0, None, None]
    errors = result.table["picky/error"].tolist()
    assert errors[0] is None
    assert errors[1] == "picky raised ZeroDivisionError: bug in the metric"
    assert errors[2] == "Lisbon is not allowed"
    assert result.table["exact_match/value"].tolist() == [1.0, 0.0, 0.0]
    assert result.aggregates["picky"]["n_errors"] == 2
    assert result.aggregates["picky"]["mean"] == 1.0


def test_nan_from_a_metric_becomes_an_error() -> None:
    @evals.metric
    def broken(answer: str) -> float:
        return float("nan")

    result = evaluate(DATA[:1], [broken], log_to_mlflow=False)
    assert result.scores["broken"][0] == Score(None, error="the metric returned NaN")
    assert result.aggregates["broken"]["mean"] is None


def test_missing_column_refused_before_any_work(sqlite_uri: str) -> None:
    judge = TinyJudge()
    with pytest.raises(ValueError, match=r"metric 'rouge_l' needs column 'expected' \(or") as info:
        evaluate(
            [{"question": "q", "answer": "a"}], [metrics.rouge_l(), judged_correct], judge=judge
        )
    assert "\n" not in str(info.value)
    assert judge.calls == 0
    client = MlflowClient(sqlite_uri)
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


def test_row_missing_a_field_gets_a_cell_error() -> None:
    data = [*DATA[:2], {"question": "Capital of Peru?", "answer": "Lima"}]
    result = evaluate(data, [metrics.exact_match()], log_to_mlflow=False)
    assert result.table["exact_match/value"].tolist() == [1.0, 0.0, None]
    assert "missing expected" in result.table["exact_match/error"][2]


def test_metric_list_mistakes() -> None:
    with pytest.raises(ValueError, match="two metrics are named 'exact_match'"):
        evaluate(DATA, [metrics.exact_match(), metrics.exact_match()], log_to_mlflow=False)
    with pytest.raises(ValueError, match="needs a judge"):
        evaluate(DATA, [judged_correct], log_to_mlflow=False)
    with pytest.raises(ValueError, match="needs arguments"):
        evaluate(DATA, [metrics.json_schema], log_to_mlflow=False)
    with pytest.raises(ValueError, match="not a metric"):
        evaluate(DATA, ["exact_match"], log_to_mlflow=False)
    with pytest.raises(ValueError, match="no metrics"):
        evaluate(DATA, [], log_to_mlflow=False)

    async def app(question: str) -> str:
        return question

    with pytest.raises(ValueError, match="async function"):
        evaluate(DATA, [metrics.exact_match()], predict=app, log_to_mlflow=False)
    with pytest.raises(ValueError, match="max_concurrency"):
        evaluate(DATA, [metrics.exact_match()], max_concurrency=0, log_to_mlflow=False)


def test_custom_metric_gets_fields_extra_columns_and_defaults() -> None:
    seen: list[dict[str, Any]] = []

    @evals.metric(name="custom", threshold=0.5)
    def custom(answer: str, topic: str, row: Row, bonus: float = 0.25) -> tuple[float, str]:
        seen.append({"answer": answer, "topic": topic, "index": row.index, "bonus": bonus})
        return (1.0 if topic == "geo" else 0.0) + bonus, f"topic {topic}"

    data = [{**d, "topic": t} for d, t in zip(DATA, ["geo", "geo", "math"], strict=True)]
    data[1]["bonus"] = 0.5
    result = evaluate(data, [custom], log_to_mlflow=False)
    assert result.table["custom/value"].tolist() == [1.25, 1.5, 0.25]
    assert result.table["custom/reason"].tolist() == ["topic geo", "topic geo", "topic math"]
    assert result.aggregates["custom"]["pass_rate"] == pytest.approx(2 / 3)
    assert sorted(s["index"] for s in seen) == [0, 1, 2]
    with pytest.raises(ValueError, match="needs column 'topic'"):
        evaluate(DATA, [custom], log_to_mlflow=False)


def test_judge_metric_usage_cache_and_budget_settings() -> None:
    judge = TinyJudge()
    judge.calls = 5  # used before: evaluate reports only this call's usage
    result = evaluate(
        DATA, [judged_correct], judge=judge, cache=False, budget_usd=10.0, log_to_mlflow=False
    )
    assert judge.settings_seen == (False, 10.0)  # during the call
    assert (judge.cache_enabled, judge.budget_usd) == (True, None)  # put back after it
    evaluate(DATA[:1], [judged_correct], judge=judge, log_to_mlflow=False)
    assert judge.settings_seen == (True, None)  # defaults leave the judge's own settings
    assert result.table["judged_correct/value"].tolist() == [1.0, 1.0, 0.0]
    assert result.judge_usage["calls"] == 3
    assert result.judge_usage["cost_usd"] == pytest.approx(0.03)
    assert result.judge_usage["model"] == "tiny-judge"


def test_budget_stops_scheduling_judge_calls() -> None:
    judge = TinyJudge()
    data = DATA * 4  # 12 rows
    result = evaluate(
        data,
        [judged_correct, metrics.exact_match()],
        judge=judge,
        budget_usd=0.045,
        max_concurrency=1,
        log_to_mlflow=False,
    )
    assert judge.calls == 5  # $0.05 >= $0.045 after the fifth call: no sixth
    values = result.table["judged_correct/value"].tolist()
    assert sum(v is not None for v in values) == 5
    errors = [e for e in result.table["judged_correct/error"] if e]
    assert len(errors) == 7 and all(
        e.startswith("not scored: budget $0.045 reached") for e in errors
    )
    assert result.unscored_by_budget == 7
    assert result.aggregates["judged_correct"]["n_budget"] == 7
    assert result.table["exact_match/value"].notna().all()  # other metrics unaffected


def test_budget_exceeded_raised_by_the_judge_is_counted() -> None:
    judge = TinyJudge(raise_budget_after=2)
    result = evaluate(
        DATA * 2, [judged_correct], judge=judge, max_concurrency=1, log_to_mlflow=False
    )
    assert judge.calls == 2
    assert result.unscored_by_budget == 4
    assert all(e.startswith("not scored: budget") for e in result.table["judged_correct/error"][2:])


def test_judge_calls_run_concurrently_within_the_limit() -> None:
    judge = TinyJudge(delay=0.05)
    started = time.perf_counter()
    result = evaluate(
        DATA * 4, [judged_correct], judge=judge, max_concurrency=3, log_to_mlflow=False
    )
    elapsed = time.perf_counter() - started
    assert result.aggregates["judged_correct"]["n_scored"] == 12
    assert judge.max_in_flight == 3
    assert elapsed < 12 * 0.05 * 0.8  # well under one-at-a-time


def test_jsonl_and_csv_paths(tmp_path: Path) -> None:
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text("\n".join(json.dumps(d) for d in DATA))
    csv = tmp_path / "qa.csv"
    pd.DataFrame(DATA).to_csv(csv, index=False)
    for path in (jsonl, csv, str(csv)):
        result = evaluate(path, [metrics.exact_match()], log_to_mlflow=False)
        assert result.table["exact_match/value"].tolist() == [1.0, 0.0, 0.0]


def test_dataframe_input_keeps_extra_columns() -> None:
    frame = pd.DataFrame(DATA).assign(topic=["a", "b", "c"])
    result = evaluate(frame, [metrics.levenshtein()], log_to_mlflow=False)
    assert result.table["topic"].tolist() == ["a", "b", "c"]
    assert result.table["levenshtein/value"][0] == 1.0


def test_evaluate_traces_with_trace_metrics(sqlite_uri: str) -> None:
    ids = make_traces()
    traces = llmtrace.search_traces()
    result = evaluate(
        traces,
        [metrics.latency(), metrics.tokens(), metrics.num_steps(), metrics.cost()],
        log_to_mlflow=False,
    )
    table = result.table.set_index("trace_id")
    assert set(table.index) == set(ids)
    assert all(v > 0 for v in table["latency_s/value"])
    tokens = dict(zip(table["question"], table["total_tokens/value"], strict=True))
    assert tokens["What is the capital of France?"] == 17.0
    assert tokens["What is the population of Paris?"] is None  # no LLM call in that trace
    steps = dict(zip(table["question"], table["num_steps/value"], strict=True))
    assert steps == {q: 1.0 for q, _ in QUESTIONS}  # one LLM or one TOOL span each
    assert all("no cost recorded" in e for e in table["cost_usd/error"])


def test_rows_naming_trace_ids_read_their_traces(sqlite_uri: str) -> None:
    ids = make_traces()
    data = [{"trace_id": i, "expected": e} for i, (_, e) in zip(ids, QUESTIONS, strict=True)]
    result = evaluate(data, [metrics.rouge_l(), metrics.num_steps()], log_to_mlflow=False)
    assert result.table["question"].tolist() == [q for q, _ in QUESTIONS]
    assert result.table["rouge_l/value"][0] == 1.0
    assert result.table["num_steps/value"].tolist() == [1.0, 1.0, 1.0]


def test_predict_runs_the_app_traced(sqlite_uri: str) -> None:
    data = [
        {
            "question": q,
            "expected": e,
            "reference_contexts": [e],
            "expected_tool_calls": ["lookup"] if "population" in q else [],
        }
        for q, e in QUESTIONS
    ]
    data.append(
        {
            "question": "boom",
            "expected": "x",
            "reference_contexts": ["x"],
            "expected_tool_calls": [],
        }
    )

    def app(question: str) -> str:
        if question == "boom":
            raise RuntimeError("app failed")
        return rag(question)

    result = evaluate(
        data,
        [metrics.token_f1(), metrics.non_llm_context_recall(), metrics.trajectory_match()],
        predict=app,
        run_name="predict-run",
    )
    table = result.table
    assert table["answer"].tolist()[:3] == [
        "Paris is the capital of France.",
        "The Eiffel Tower is 330 metres tall.",
        "Paris population: 2.1M",
    ]
    assert table["predict/error"].tolist() == [
        None,
        None,
        None,
        "predict raised RuntimeError: app failed",
    ]
    assert table["token_f1/value"][0] == 1.0
    assert table["non_llm_context_recall/value"].tolist()[:2] == [1.0, 1.0]
    assert table["trajectory_exact/value"].tolist()[:3] == [1.0, 1.0, 1.0]
    assert table["token_f1/error"][3] == "not scored: predict raised RuntimeError: app failed"
    assert all(isinstance(t, str) and t.startswith("tr-") for t in table["trace_id"])
    client = MlflowClient(sqlite_uri)
    run = client.get_run(result.run_id)
    linked = client.search_traces(locations=[run.info.experiment_id], run_id=result.run_id)
    assert {t.info.trace_id for t in linked} == set(table["trace_id"])
    stored = client.get_trace(table["trace_id"][0])
    root = next(s for s in stored.data.spans if s.parent_id is None)
    assert root.name == "app" and root.inputs == {"question": QUESTIONS[0][0]}


def test_progress_bar_can_be_forced(capsys: pytest.CaptureFixture[str]) -> None:
    result = evaluate(DATA, [metrics.exact_match()], progress=True, log_to_mlflow=False)
    assert result.aggregates["exact_match"]["n_scored"] == 3
    quiet = evaluate(DATA, [metrics.exact_match()], log_to_mlflow=False)  # not a TTY: quiet
    assert quiet.aggregates == result.aggregates
    assert capsys.readouterr().out == ""
