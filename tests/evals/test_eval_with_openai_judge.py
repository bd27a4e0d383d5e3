"""`evaluate` with the real `OpenAIJudge` (official client, respx on a loopback URL) over traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx
from eval_apps import make_traces
from judge_api import CHAT_URL, completion, make_judge, prompt_id_of
from mlflow import MlflowClient

import evals
import llmtrace
from evals import metrics

CLAIMS = ["The answer states a fact."]
REPLIES: dict[str, Any] = {
    "faithfulness_claims": {"claims": CLAIMS},
    "faithfulness_verdicts": {
        "verdicts": [{"statement": CLAIMS[0], "reason": "in the context", "verdict": 1}]
    },
}


@pytest.fixture
def chat() -> Any:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(CHAT_URL)
        route.side_effect = lambda request: completion(REPLIES[prompt_id_of(request)])
        yield route


def test_judge_metric_over_traces_logs_usage_and_feedback(
    sqlite_uri: str, tmp_path: Path, chat: respx.Route
) -> None:
    ids = make_traces()
    judge = make_judge(tmp_path)
    data = llmtrace.search_traces()
    first = evals.evaluate(data, [evals.Faithfulness(), metrics.answer_length], judge=judge)
    assert first.log_error is None, first.log_error
    assert first.table["faithfulness/value"].tolist() == [1.0, 1.0, 1.0]
    assert first.table["answer_words/value"].tolist() == [
        float(len(a.split())) for a in first.table["answer"]
    ]
    usage = first.judge_usage  # two prompts per row; two rows share a verdict prompt
    assert usage["calls"] + usage["cached_calls"] == 6
    assert chat.call_count == usage["calls"] >= 4
    assert first.judge_usage["cost_usd"] > 0

    client = MlflowClient(sqlite_uri)
    run = client.get_run(first.run_id)
    assert run.data.params["judge.model"] == "gpt-4o-mini"
    assert run.data.params["judge.prompt_version.faithfulness"]
    assert run.data.metrics["judge/calls"] == usage["calls"]
    for trace_id in ids:
        found = {a.name: a for a in client.get_trace(trace_id).info.assessments}
        assert found["faithfulness"].value == 1.0
        assert found["faithfulness"].source.source_type == "LLM_JUDGE"

    # The judge's own traces are now in the experiment: a rerun leaves them out and hits the cache.
    again = llmtrace.search_traces()
    assert len(again) > len(ids)
    second = evals.evaluate(again, [evals.Faithfulness()], judge=judge)
    assert sorted(second.table["trace_id"]) == sorted(ids)
    assert chat.call_count == usage["calls"]  # zero new HTTP calls
    assert second.judge_usage["calls"] == 0 and second.judge_usage["cached_calls"] == 6


def test_tiny_budget_leaves_rows_unscored(sqlite_uri: str, tmp_path: Path, chat: Any) -> None:
    make_traces()
    judge = make_judge(tmp_path)
    result = evals.evaluate(
        llmtrace.search_traces(), [evals.Faithfulness()], judge=judge, budget_usd=0.0
    )
    assert chat.call_count == 0
    assert result.unscored_by_budget == 3
    assert all(e.startswith("not scored: budget") for e in result.table["faithfulness/error"])
    assert json.loads(json.dumps(result.aggregates))["faithfulness"]["n_budget"] == 3
