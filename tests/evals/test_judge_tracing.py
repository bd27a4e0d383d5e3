"""Judge calls are EVALUATOR traces of their own in MLflow, and never store the API key."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import mlflow
import respx

import llmtrace
from tests.evals import judge_api
from tests.evals.judge_api import FAKE_KEY, ask, completion, make_judge

api = judge_api.api  # fixture


def _rate_limit_echoing_the_key(request: httpx.Request) -> httpx.Response:
    """A 429 whose body repeats the credentials it got, as some servers do."""
    return httpx.Response(
        429,
        headers={"retry-after": "0"},
        json={"error": {"message": f"slow down, {request.headers['authorization']}"}},
    )


def test_judge_traces_are_evaluator_roots_apart_from_the_app(
    api: respx.MockRouter, tmp_path: Path, sqlite_uri: str
) -> None:
    replies = iter([None, completion({"score": 4, "reason": "fine"})])

    def side_effect(request: httpx.Request) -> httpx.Response:
        reply = next(replies)
        return reply if reply is not None else _rate_limit_echoing_the_key(request)

    api["chat"].side_effect = side_effect
    judge = make_judge(tmp_path)
    with llmtrace.session("conv-1", user="alice"), llmtrace.span("app", kind="CHAIN") as app:
        app_trace_id = app.trace_id
        ask(judge, "Is the sky blue?")
    ask(judge, "Is the sky blue?")  # cached: no call, no trace
    llmtrace.flush()

    client = mlflow.MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("tests")
    assert experiment is not None
    traces = client.search_traces(experiment_ids=[experiment.experiment_id])
    assert len(traces) == 2
    (app_trace,) = [t for t in traces if t.info.trace_id == app_trace_id]
    (judge_trace,) = [t for t in traces if t.info.trace_id != app_trace_id]

    assert [s.name for s in app_trace.data.spans] == ["app"]  # nothing of the judge inside
    assert app_trace.info.trace_metadata.get("mlflow.trace.session") == "conv-1"
    assert "mlflow.trace.session" not in judge_trace.info.trace_metadata
    assert judge_trace.info.tags.get("llmtrace.evaluation") == "true"

    root = next(s for s in judge_trace.data.spans if s.parent_id is None)
    assert root.span_type == "EVALUATOR"
    assert root.name == "judge test.prompt"
    assert root.attributes["llmtrace.evaluation"] is True
    assert root.attributes["llmtrace.judge.prompt_version"] == "1"
    assert root.attributes["llmtrace.judge.retries"] == 1
    assert root.outputs == {"score": 4, "reason": "fine"}
    assert root.inputs["messages"][-1]["content"] == "Is the sky blue?"
    children = [s for s in judge_trace.data.spans if s.parent_id == root.span_id]
    # the 429 attempt and the answer, each a span of the OpenAI wrapper
    assert [s.name for s in children] == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    assert {s.span_type for s in children} == {"LLM"}
    assert sorted(s.status.status_code.value for s in children) == ["ERROR", "OK"]

    matching = client.search_traces(
        experiment_ids=[experiment.experiment_id],
        filter_string="tags.`llmtrace.evaluation` = 'true'",
    )
    assert [t.info.trace_id for t in matching] == [judge_trace.info.trace_id]

    stored = "\n".join(t.to_json() for t in traces)
    assert FAKE_KEY not in stored
    assert FAKE_KEY[3:20] not in stored
    raw = Path(sqlite_uri.removeprefix("sqlite:///")).read_bytes()
    assert FAKE_KEY.encode() not in raw and FAKE_KEY[3:20].encode() not in raw
    assert json.loads(root.to_dict()["attributes"]["mlflow.spanOutputs"])["score"] == 4
