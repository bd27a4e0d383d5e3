"""Every script in examples/ runs on a fresh folder and leaves what it claims in the store.

Each script runs as a child process in an empty temp folder, with no ``MLFLOW_*`` /
``LLMTRACE_*`` / ``OTEL_*`` variables (so it uses the default embedded store, ./mlflow.db),
must exit 0, and the traces, runs and models it prints about are then read back from that
folder's store with MLflow's own client.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, folder: Path) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "LLMTRACE_", "OTEL_", "OPENAI_"))  # no real API calls
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert_quiet(name, done.stdout, done.stderr)
    return done.stdout


#: What MLflow prints while it sets up a store, downloads or registers: never the user's news.
NOISE = (
    "INFO mlflow",
    "Creating initial MLflow database tables",
    "Downloading artifacts",
    "registering model based on",
    "has no artifacts at artifact path",
)


def assert_quiet(name: str, out: str, err: str) -> None:
    """No MLflow housekeeping on the console; "next step" lines are llmtrace commands."""
    for noise in NOISE:
        assert noise not in out + err, f"{name} printed {noise!r}:\n{err}"
    assert "mlflow ui" not in out, f"{name} points to `mlflow ui`, not `llmtrace ui`:\n{out}"
    assert "llmtrace ui" in out or "llmtrace traces" in out, out


def store(folder: Path) -> MlflowClient:
    db = folder / "mlflow.db"
    assert db.exists(), "the example did not use the default store ./mlflow.db"
    return MlflowClient(tracking_uri=f"sqlite:///{db}")


def experiment_id(client: MlflowClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    assert found is not None, f"no experiment {name!r}"
    return str(found.experiment_id)


def span_types(trace: object) -> list[str]:
    return sorted(s.span_type for s in trace.data.spans)  # type: ignore[attr-defined]


# -- what each example claims -----------------------------------------------------------------
def check_quickstart(folder: Path, out: str) -> None:
    client = store(folder)
    traces = client.search_traces(locations=[experiment_id(client, "Default")])
    assert len(traces) == 2
    for t in traces:
        assert t.info.trace_metadata["mlflow.trace.session"] == "quickstart-session"
        assert span_types(t) == ["CHAIN", "LLM", "RETRIEVER"]
        assert t.info.trace_id in out
    # The command the example prints works, from that folder, on that store.
    command = next(line.split("#")[0].split() for line in out.splitlines() if "traces show" in line)
    shown = subprocess.run(
        [sys.executable, "-m", "llmtrace", *command[1:]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    for name in ("answer", "retrieve", "generate"):
        assert name in shown.stdout


def check_rag_app(folder: Path, out: str) -> None:
    client = store(folder)
    exp = experiment_id(client, "rag-app")
    traces = client.search_traces(locations=[exp])
    assert len(traces) == 4
    for t in traces:
        assert span_types(t) == ["CHAIN", "EMBEDDING", "LLM", "RETRIEVER"]
        root = next(s for s in t.data.spans if s.parent_id is None)
        assert (root.name, root.span_type) == ("answer", "CHAIN")
        assert t.info.trace_metadata["mlflow.trace.session"] == "rag-demo"
        assert t.info.token_usage["input_tokens"] > 0
    found = [s.outputs for t in traces for s in t.data.spans if s.span_type == "RETRIEVER"]
    assert sorted(bool(docs) for docs in found) == [False, True, True, True]  # 4th: nothing
    assert all({"page_content", "metadata", "id"} <= set(d) for docs in found for d in docs)
    runs = client.search_runs([exp])
    assert [r.info.run_name for r in runs] == ["rag-batch"]
    run = runs[0]
    assert run.data.params == {"model": "fake-llm-1", "top_k": "2", "documents": "6"}
    assert run.data.metrics == {"questions": 4.0, "unanswered": 1.0}
    linked = client.search_traces(locations=[exp], run_id=run.info.run_id)
    assert {t.info.trace_id for t in linked} == {t.info.trace_id for t in traces}
    assert "4 traces linked to run 'rag-batch'" in out
    assert "I don't know" in out


def check_agent(folder: Path, out: str) -> None:
    client = store(folder)
    traces = client.search_traces(
        locations=[experiment_id(client, "agent")], order_by=["timestamp_ms ASC"]
    )
    assert len(traces) == 2
    first = traces[0]
    assert first.info.state.value == "OK"  # the retry made the task succeed
    kinds = span_types(first)
    assert "AGENT" in kinds and kinds.count("TOOL") == 3
    tools = [s for s in first.data.spans if s.span_type == "TOOL"]
    failed = [s for s in tools if s.status.status_code.value == "ERROR"]
    assert [s.name for s in failed] == ["get_weather"]
    events = [e for e in failed[0].events if e.name == "exception"]
    assert "timed out" in events[0].attributes["exception.message"]
    assert sorted(s.name for s in tools if s.status.status_code.value == "OK") == [
        "calculator",
        "get_weather",
    ]
    assert "64.4 °F" in out


def check_classic_tracking(folder: Path, out: str) -> None:
    client = store(folder)
    exp = experiment_id(client, "classic-tracking")
    runs = {r.info.run_name: r for r in client.search_runs([exp])}
    assert len(runs) == 4
    manual = [r for name, r in runs.items() if name != "rf-autolog"]
    for r in manual:
        assert {"accuracy", "precision", "recall", "f1"} <= set(r.data.metrics)
        assert r.data.tags["dataset"] == "breast_cancer"
        assert r.data.params["random_state"] == "42"
        assert [f.path for f in client.list_artifacts(r.info.run_id, "preprocessing")] == [
            "preprocessing/scaler.joblib"
        ]
        assert [f.path for f in client.list_artifacts(r.info.run_id, "plots")] == [
            "plots/confusion_matrix.png"
        ]
    best = max(manual, key=lambda r: r.data.metrics["f1"])
    version = client.get_model_version("breast-cancer-rf", "1")
    assert version.run_id == best.info.run_id
    autolog = runs["rf-autolog"].data
    assert autolog.metrics["training_f1_score"] > 0.95
    assert autolog.params["n_estimators"] == "100"
    assert "predicts" in out and "training data" in out.lower()
    assert (folder / "mlruns").is_dir()  # artifacts beside the store


def check_chatbot(folder: Path, out: str) -> None:
    assert "LOCAL STAND-IN" in out  # no OPENAI_API_KEY: says it is not a model
    client = store(folder)
    traces = client.search_traces(
        locations=[experiment_id(client, "Default")], order_by=["timestamp_ms ASC"]
    )
    assert len(traces) == 3  # one per user turn, one session
    assert len({t.info.trace_metadata["mlflow.trace.session"] for t in traces}) == 1
    for t in traces:
        assert t.info.state.value == "OK"
        assert span_types(t) == ["AGENT", "LLM", "LLM", "TOOL"]
        assert t.info.token_usage["total_tokens"] > 0
        assert t.info.trace_id in out
        root = next(s for s in t.data.spans if s.parent_id is None)
        assert "client" not in root.inputs and "object at 0x" not in str(root.inputs)
        assert "text" in root.inputs  # what the user said is what the root shows first
        llm = [s for s in t.data.spans if s.span_type == "LLM"]
        assert all(s.attributes["mlflow.chat.tools"] for s in llm)
        assert llm[0].attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    streamed = [s for s in traces[-1].data.spans if s.span_type == "LLM"]
    assert all(s.attributes["llmtrace.llm.stream"] for s in streamed)
    assert "expected next week" in out


def check_rag_eval(folder: Path, out: str) -> None:
    assert "LOCAL STAND-IN" in out and "NOT a model" in out  # no OPENAI_API_KEY: said so
    client = store(folder)
    exp = experiment_id(client, "rag-eval")

    def app_traces(**where: str) -> list[Any]:  # the app's, not the judge's own traces
        found = client.search_traces(locations=[exp], max_results=500, **where)
        return [t for t in found if t.info.tags.get("llmtrace.evaluation") != "true"]

    first = client.search_runs([exp])
    assert [r.info.run_name for r in first] == ["rag-eval"]
    again = run_example("rag_eval.py", folder)  # a second run: the judge cache answers
    runs = client.search_runs([exp], order_by=["attributes.start_time ASC"])
    assert [r.info.run_id for r in runs][:1] == [first[0].info.run_id] and len(runs) == 2
    for run, printed in zip(runs, (out, again), strict=True):
        assert run.info.status == "FINISHED"
        assert run.info.run_id in printed and "llmtrace ui" in printed
        scores = printed.split("Evaluation of ", 1)[1].split("Per question", 1)[0]
        assert " metric " in scores and "None" not in scores  # the `eval run` table
        assert not re.search(r"\d\.\d{6,}", scores), scores  # no raw pandas floats (0.690163)
        params, values = run.data.params, run.data.metrics
        names = params["metrics"].split(",")
        assert names[:2] == ["token_f1", "rouge_l"]
        assert {"faithfulness", "answer_relevancy", "context_precision", "grounded"} <= set(names)
        assert params["judge.model"] == "local-stand-in"
        assert params["judge.prompt_version.faithfulness"] == "1"
        assert values["eval/rows"] == 7.0
        assert values["faithfulness/n_errors"] == 1.0  # "I don't know": no claims, said so
        assert 0.0 < values["faithfulness/mean"] < 1.0  # the café sentence is unsupported
        assert 0.0 < values["token_f1/mean"] < 1.0
        assert [a.path for a in client.list_artifacts(run.info.run_id, "eval")] == [
            "eval/rows.json",
            "eval/summary.json",
        ]
        linked = app_traces(run_id=run.info.run_id)
        assert len(linked) == 7
        for t in linked:
            sources = {a.name: a.source.source_type for a in t.info.assessments}
            assert sources["token_f1"] == "CODE" and sources["faithfulness"] == "LLM_JUDGE"
            assert {"context_precision", "grounded", "latency_s"} <= set(sources)
    first_run, second_run = (r.data.metrics for r in runs)
    assert first_run["judge/calls"] > 0 and first_run["judge/cached_calls"] == 0
    assert second_run["judge/calls"] == 0  # zero judge calls, all from the cache
    assert second_run["judge/cached_calls"] == first_run["judge/calls"]
    for metric in ("faithfulness/mean", "grounded/mean", "answer_relevancy/mean"):
        assert second_run[metric] == first_run[metric]
    assert f"served {int(first_run['judge/calls']) - 7} chat and 7 embedding requests" in out
    assert "served 0 chat and 0 embedding requests" in again
    assert "this run made 0 judge API calls" in again
    assert f"llmtrace eval compare {runs[0].info.run_id} {runs[1].info.run_id}" in again
    every = app_traces()
    assert len(every) == 14  # 7 questions per run; judge traces are kept apart
    for t in every:
        assert span_types(t) == ["CHAIN", "LLM", "RETRIEVER"]


CHECKS: dict[str, Callable[[Path, str], None]] = {
    "quickstart.py": check_quickstart,
    "rag_app.py": check_rag_app,
    "agent.py": check_agent,
    "classic_tracking.py": check_classic_tracking,
    "chatbot.py": check_chatbot,
    "rag_eval.py": check_rag_eval,
}


def test_every_example_is_checked() -> None:
    scripts = [p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")]  # helpers
    assert sorted(scripts) == sorted(CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_runs_on_a_fresh_folder(name: str, tmp_path: Path) -> None:
    out = run_example(name, tmp_path)
    assert "mlflow.db" in out or "mlflow ui" in out  # says where to look
    CHECKS[name](tmp_path, out)
