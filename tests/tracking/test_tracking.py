"""The classic tracking facade against a real store, read back through MLflow's own client.

Tests taking ``backend`` run twice: on a fresh SQLite store, and (marked slow) on the real
``mlflow server`` fixture over HTTP, artifacts included. Error tests run on SQLite only.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import llmtrace
from llmtrace.export import _runlink

FAST = {"pip_requirements": ["scikit-learn"]}  # skip MLflow's requirement inference (~5 s)


@pytest.fixture(autouse=True)
def _no_run_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A failing test must not leave an MLflow run active or autologging on for the next.

    Runs in a temp folder: MLflow puts a SQLite store's artifacts in ./mlruns of the working
    folder, not beside the database.
    """
    monkeypatch.chdir(tmp_path)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.sklearn.autolog(disable=True)


def mlflow_client(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri)


def experiment_id(uri: str) -> str:
    name = llmtrace.current_config().experiment
    found = mlflow_client(uri).get_experiment_by_name(name)
    assert found is not None, name
    return str(found.experiment_id)


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x, y


# -- runs, params, metrics, tags --------------------------------------------------------------
def test_run_params_metrics_tags(backend: str) -> None:
    with llmtrace.start_run(run_name="parent", tags={"team": "search"}) as parent:
        llmtrace.log_param("lr", 0.1)
        llmtrace.log_params({"depth": 3, "model": "rf"})
        for step, loss in enumerate([0.9, 0.5, 0.25]):
            llmtrace.log_metric("loss", loss, step=step)
        llmtrace.log_metrics({"f1": 0.8, "acc": np.float32(0.75)}, step=7)
        llmtrace.set_tag("stage", "baseline")
        llmtrace.set_tags({"owner": "ada", "dataset": "iris"})
        assert llmtrace.active_run().info.run_id == parent.info.run_id
        with llmtrace.start_run(run_name="child", nested=True) as child:
            llmtrace.log_metric("fold_f1", 0.7)
    assert llmtrace.active_run() is None

    c = mlflow_client(backend)
    run = c.get_run(parent.info.run_id)
    assert run.info.experiment_id == experiment_id(backend)
    assert run.info.run_name == "parent"
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.1", "depth": "3", "model": "rf"}
    assert run.data.metrics == {"loss": 0.25, "f1": 0.8, "acc": 0.75}
    history = c.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.25)]
    assert [m.step for m in c.get_metric_history(run.info.run_id, "f1")] == [7]
    tags = run.data.tags
    assert (tags["team"], tags["stage"], tags["owner"], tags["dataset"]) == (
        "search",
        "baseline",
        "ada",
        "iris",
    )
    nested = c.get_run(child.info.run_id)
    assert nested.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert nested.data.metrics == {"fold_f1": 0.7}
    assert llmtrace.get_run(parent.info.run_id).data.params["model"] == "rf"


def test_failed_block_marks_the_run_failed_and_the_error_passes(backend: str) -> None:
    with pytest.raises(KeyError, match="boom"), llmtrace.start_run(run_name="bad") as run:
        raise KeyError("boom")
    assert mlflow_client(backend).get_run(run.info.run_id).info.status == "FAILED"


def test_start_run_without_with_and_resume(backend: str) -> None:
    run = llmtrace.start_run(run_name="manual")
    llmtrace.log_metric("m", 1.0)
    llmtrace.end_run()
    with llmtrace.start_run(run_id=run.info.run_id):
        llmtrace.log_metric("m", 2.0, step=1)
    stored = mlflow_client(backend).get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.metrics == {"m": 2.0}


# -- traces land in the run -------------------------------------------------------------------
def test_traces_begun_in_a_run_are_linked_to_it(backend: str) -> None:
    @llmtrace.trace(kind="CHAIN")
    def answer(question: str) -> str:
        return question.upper()

    with llmtrace.span("before-the-run") as outside:
        answer("outside")
    with llmtrace.start_run(run_name="rag-eval") as run:
        inside = []
        for q in ("one", "two"):
            with llmtrace.span("question") as s:
                answer(q)
            inside.append(s.trace_id)
        with llmtrace.start_run(run_name="inner", nested=True) as inner:
            with llmtrace.span("in-the-nested-run") as nested_span:
                answer("nested")
    # leaving the run flushed llmtrace: the links are there without a flush of ours
    c = mlflow_client(backend)
    exp = experiment_id(backend)
    linked = c.search_traces(locations=[exp], run_id=run.info.run_id)
    assert sorted(t.info.trace_id for t in linked) == sorted(inside)
    in_nested = c.search_traces(locations=[exp], run_id=inner.info.run_id)
    assert [t.info.trace_id for t in in_nested] == [nested_span.trace_id]
    # the run page's Traces tab filters on this metadata key
    by_metadata = c.search_traces(
        locations=[exp], filter_string=f"metadata.`mlflow.sourceRun` = '{run.info.run_id}'"
    )
    assert sorted(t.info.trace_id for t in by_metadata) == sorted(inside)
    everything = {t.info.trace_id for t in c.search_traces(locations=[exp])}
    assert outside.trace_id in everything
    assert outside.trace_id not in {t.info.trace_id for t in linked}
    # the spans themselves are intact
    trace = c.get_trace(inside[0])
    assert sorted(s.name for s in trace.data.spans) == [
        "question",
        "test_traces_begun_in_a_run_are_linked_to_it.<locals>.answer",
    ]


def test_trace_in_a_run_started_with_mlflow_directly_is_linked(sqlite_uri: str) -> None:
    llmtrace.set_experiment("direct")  # also points MLflow's fluent API at llmtrace's store
    with mlflow.start_run() as run, llmtrace.span("direct") as s:
        pass
    llmtrace.flush()
    linked = mlflow_client(sqlite_uri).search_traces(
        locations=[experiment_id(sqlite_uri)], run_id=run.info.run_id
    )
    assert [t.info.trace_id for t in linked] == [s.trace_id]


def test_a_failing_link_never_fails_the_export(caplog: pytest.LogCaptureFixture) -> None:
    class Span:
        trace_id = "tr-1"

        def get_attribute(self, key: str) -> Any:
            return "run-1" if key == "llmtrace.run_id" else None

    calls: list[tuple[list[str], str]] = []

    def link(trace_ids: list[str], run_id: str) -> None:
        calls.append((trace_ids, run_id))
        raise RuntimeError("run deleted")

    with caplog.at_level(logging.DEBUG, logger="llmtrace"):
        _runlink.link_to_runs([Span(), Span()], link)
    assert calls == [(["tr-1"], "run-1")]
    assert "could not link" in caplog.text


# -- artifacts --------------------------------------------------------------------------------
def test_artifacts_round_trip(backend: str, tmp_path: Path) -> None:
    scaler = tmp_path / "scaler.json"
    scaler.write_text(json.dumps({"mean": [1.0, 2.0]}))
    reports = tmp_path / "reports"
    (reports / "sub").mkdir(parents=True)
    (reports / "a.txt").write_text("A")
    (reports / "sub" / "b.txt").write_text("B")
    fig = Figure()
    fig.subplots().plot([1, 2, 3])
    with llmtrace.start_run() as run:
        llmtrace.log_artifact(scaler, artifact_path="preprocessing")
        llmtrace.log_artifacts(reports, artifact_path="reports")
        llmtrace.log_figure(fig, "plots/line.png")
        llmtrace.log_table(pd.DataFrame({"q": ["a", "b"], "score": [1, 0]}), "tables/t.json")
        llmtrace.log_dict({"features": ["x", "y"]}, "config/features.yaml")
        listed_in_run = [f.path for f in llmtrace.list_artifacts(path="preprocessing")]
    run_id = run.info.run_id
    assert listed_in_run == ["preprocessing/scaler.json"]

    c = mlflow_client(backend)
    top = sorted(f.path for f in c.list_artifacts(run_id))
    assert top == ["config", "plots", "preprocessing", "reports", "tables"]
    assert [f.path for f in c.list_artifacts(run_id, "reports/sub")] == ["reports/sub/b.txt"]
    assert [f.path for f in llmtrace.list_artifacts(run_id, "plots")] == ["plots/line.png"]

    got = Path(llmtrace.download_artifacts(run_id, "preprocessing/scaler.json", tmp_path / "d"))
    assert json.loads(got.read_text()) == {"mean": [1.0, 2.0]}
    folder = Path(llmtrace.download_artifacts(run_id, "reports", tmp_path / "d2"))
    assert (folder / "sub" / "b.txt").read_text() == "B"
    png = Path(c.download_artifacts(run_id, "plots/line.png", str(tmp_path)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table_file = Path(c.download_artifacts(run_id, "tables/t.json", str(tmp_path)))
    table = json.loads(table_file.read_text())
    assert table["columns"] == ["q", "score"] and table["data"] == [["a", 1], ["b", 0]]
    yaml_text = Path(c.download_artifacts(run_id, "config/features.yaml", str(tmp_path)))
    assert "features:" in yaml_text.read_text()


# -- models and the registry ------------------------------------------------------------------
def test_log_register_and_load_models(backend: str, iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    clf = LogisticRegression(max_iter=300).fit(x, y)
    expected = clf.predict(x[:5])
    with llmtrace.start_run() as run:
        info = llmtrace.log_model(clf, name="clf", input_example=x[:2], **FAST)
    assert info.run_id == run.info.run_id

    for uri in (info.model_uri, f"runs:/{run.info.run_id}/clf"):
        assert (llmtrace.load_model(uri).predict(x[:5]) == expected).all(), uri
    pyfunc = llmtrace.load_model(info.model_uri, flavor="pyfunc")
    assert (np.asarray(pyfunc.predict(x[:5])) == expected).all()

    name = f"iris-{experiment_id(backend)}"
    v1 = llmtrace.register_model(info, name, alias="champion", tags={"by": "test"})
    with llmtrace.start_run():
        clf2 = LogisticRegression(max_iter=300, C=0.01).fit(x, y)
        info2 = llmtrace.log_model(clf2, name="clf", **FAST)
    v2 = llmtrace.register_model(info2.model_uri, name)
    assert (str(v1.version), str(v2.version)) == ("1", "2")

    c = mlflow_client(backend)
    assert c.get_model_version(name, "1").tags == {"by": "test"}
    assert str(c.get_model_version_by_alias(name, "champion").version) == "1"
    assert c.get_registered_model(name).name == name
    assert (llmtrace.load_model(f"models:/{name}/1").predict(x[:5]) == expected).all()
    assert (llmtrace.load_model(f"models:/{name}@champion").predict(x[:5]) == expected).all()
    latest = llmtrace.load_model(f"models:/{name}/latest")
    assert latest.get_params()["C"] == 0.01


# -- search -----------------------------------------------------------------------------------
def test_search_runs(backend: str) -> None:
    for name, f1 in [("low", 0.2), ("high", 0.9), ("mid", 0.6)]:
        with llmtrace.start_run(run_name=name):
            llmtrace.log_metric("f1", f1)
            llmtrace.log_param("model", "rf" if f1 > 0.5 else "lr")
    best = llmtrace.search_runs(order_by=["metrics.f1 DESC"], max_results=2)
    assert [r.info.run_name for r in best] == ["high", "mid"]
    rf = llmtrace.search_runs("params.model = 'rf' and metrics.f1 > 0.7")
    assert [r.info.run_name for r in rf] == ["high"]
    frame = llmtrace.search_runs(order_by=["metrics.f1 ASC"], return_type="pandas")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["metrics.f1"]) == [0.2, 0.6, 0.9]
    by_name = llmtrace.search_runs(experiment=[llmtrace.current_config().experiment or ""])
    assert len(by_name) == 3
    # the same runs as MLflow's own search sees
    theirs = mlflow_client(backend).search_runs([experiment_id(backend)])
    assert {r.info.run_id for r in theirs} == {r.info.run_id for r in by_name}
    with pytest.raises(llmtrace.InvalidValueError, match="search_runs"):
        llmtrace.search_runs("metrics.f1 >>> 2")
    with pytest.raises(llmtrace.TrackingError, match="no experiment named 'nope'"):
        llmtrace.search_runs(experiment="nope")


# -- autolog ----------------------------------------------------------------------------------
def test_autolog_on_and_off(backend: str, iris: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = iris
    llmtrace.autolog(log_models=False, log_datasets=False, silent=True)
    LogisticRegression(max_iter=300, C=0.5).fit(x, y)
    runs = mlflow_client(backend).search_runs([experiment_id(backend)])
    assert len(runs) == 1
    data = runs[0].data
    assert data.params["C"] == "0.5"
    assert 0.9 < data.metrics["training_accuracy_score"] <= 1.0

    llmtrace.autolog(disable=True)
    LogisticRegression(max_iter=300).fit(x, y)
    assert len(mlflow_client(backend).search_runs([experiment_id(backend)])) == 1


# -- one store: tracking URI and experiment follow llmtrace's config --------------------------
def test_set_tracking_uri_and_experiment_update_tracing_too(tmp_path: Path) -> None:
    llmtrace.configure(capture_content=False, schedule_delay_ms=20)
    uri = f"sqlite:///{tmp_path / 'one.db'}"
    llmtrace.set_tracking_uri(uri)
    assert llmtrace.current_config().tracking_uri == uri
    assert llmtrace.current_config().capture_content is False  # other options kept
    assert mlflow.get_tracking_uri() == uri
    exp = llmtrace.set_experiment("workshop")
    assert llmtrace.current_config().experiment == "workshop"
    assert exp.name == "workshop"
    assert llmtrace.client().tracking_uri == uri

    with llmtrace.start_run() as run, llmtrace.span("in-workshop") as s:
        llmtrace.log_param("p", 1)
    c = mlflow_client(uri)
    assert c.get_run(run.info.run_id).info.experiment_id == exp.experiment_id
    trace = c.get_trace(s.trace_id)
    assert trace.info.experiment_id == exp.experiment_id
    assert trace.data.spans[0].inputs is None  # capture_content=False still in force

    with pytest.raises(llmtrace.ConfigurationError):
        llmtrace.set_tracking_uri("ftp://nowhere")
    assert llmtrace.current_config().tracking_uri == uri


@pytest.mark.slow
def test_set_tracking_uri_to_a_server(mlflow_server: str, sqlite_uri: str) -> None:
    llmtrace.set_tracking_uri(mlflow_server)  # from the SQLite store to the real server
    name = f"to-server-{uuid.uuid4().hex[:8]}"
    exp = llmtrace.set_experiment(name)
    assert (llmtrace.current_config().tracking_uri, mlflow.get_tracking_uri()) == (
        mlflow_server,
        mlflow_server,
    )
    assert llmtrace.client().get_experiment_by_name(name).experiment_id == exp.experiment_id
    with llmtrace.start_run() as run, llmtrace.span("on-the-server") as s:
        llmtrace.log_metric("m", 3.0)
    c = mlflow_client(mlflow_server)
    assert c.get_run(run.info.run_id).data.metrics == {"m": 3.0}
    linked = c.search_traces(locations=[exp.experiment_id], run_id=run.info.run_id)
    assert [t.info.trace_id for t in linked] == [s.trace_id]
    assert mlflow_client(sqlite_uri).get_experiment_by_name(name) is None


def test_relative_sqlite_uri_is_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    llmtrace.set_tracking_uri("sqlite:///rel.db")
    assert llmtrace.current_config().tracking_uri == f"sqlite:///{tmp_path / 'rel.db'}"
    with llmtrace.start_run():
        llmtrace.log_metric("x", 1)
    assert (tmp_path / "rel.db").exists()


# -- clear errors at the call -----------------------------------------------------------------
def _one_line_from_mlflow(exc: BaseException) -> None:
    assert "\n" not in str(exc)
    assert isinstance(exc.__cause__, MlflowException)


def test_unknown_run_id(sqlite_uri: str) -> None:
    with pytest.raises(llmtrace.RunNotFoundError, match="nope") as got:
        llmtrace.get_run("nope")
    _one_line_from_mlflow(got.value)
    assert isinstance(got.value, LookupError)
    with pytest.raises(llmtrace.RunNotFoundError, match="start_run"):
        llmtrace.start_run(run_id="nope")
    assert mlflow.active_run() is None
    with pytest.raises(llmtrace.RunNotFoundError):
        llmtrace.list_artifacts(run_id="nope")
    with pytest.raises(llmtrace.RunNotFoundError):
        llmtrace.download_artifacts(run_id="nope", path="x")
    with pytest.raises(llmtrace.TrackingError, match="no active run"):
        llmtrace.list_artifacts()


def test_model_uri_that_does_not_exist(
    sqlite_uri: str, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    with llmtrace.start_run() as run:
        llmtrace.log_metric("m", 1)
    for uri in (
        "models:/no-such-model/latest",
        "models:/no-such-model/3",
        "models:/no-such-model@champion",
        "models:/m-0123456789abcdef",
        "runs:/no-such-run/model",
        f"runs:/{run.info.run_id}/no-such-path",
    ):
        with pytest.raises(llmtrace.ModelNotFoundError, match="load_model") as got:
            llmtrace.load_model(uri)
        assert "\n" not in str(got.value), uri
        assert got.value.__cause__ is not None
    with pytest.raises(llmtrace.ModelNotFoundError, match="register_model"):
        llmtrace.register_model("runs:/no-such-run/model", "m")
    with pytest.raises(llmtrace.InvalidValueError, match="flavor"):
        llmtrace.load_model("models:/x/1", flavor="onnx")  # type: ignore[arg-type]


def test_metric_that_is_not_a_number(sqlite_uri: str) -> None:
    with llmtrace.start_run() as run:
        for value in ["high", None, [0.5], {"v": 1}, 1 + 2j]:
            with pytest.raises(llmtrace.InvalidValueError, match="metric 'f1' must be a number"):
                llmtrace.log_metric("f1", value)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="'bad'"):
                llmtrace.log_metrics({"ok": 1.0, "bad": value})
    assert mlflow_client(sqlite_uri).get_run(run.info.run_id).data.metrics == {}


def test_other_bad_input(sqlite_uri: str, tmp_path: Path) -> None:
    with llmtrace.start_run():
        with pytest.raises(llmtrace.TrackingError, match="no such file"):
            llmtrace.log_artifact(tmp_path / "missing.pkl")
        with pytest.raises(llmtrace.TrackingError, match="no such folder"):
            llmtrace.log_artifacts(tmp_path / "missing")
        with pytest.raises(llmtrace.InvalidValueError, match="scikit-learn"):
            llmtrace.log_model(object(), name="m")
        with pytest.raises(llmtrace.InvalidValueError, match="log_param") as got:
            llmtrace.log_param("bad key!", 1)
        _one_line_from_mlflow(got.value)
        with pytest.raises(llmtrace.TrackingError, match="already active"):
            llmtrace.start_run()
