"""``llmtrace eval`` rough edges: run names that match several runs, one metric name end to end,
help that lists the metrics, data errors exit 2, the experiment named, and tables at 80 columns.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from llmtrace.cli import app
from tests.evals.test_eval_cli import ROWS, run_id_in, write_jsonl


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def invoke(uri: str | None, *args: str, width: int = 120) -> tuple[int, str, str]:
    runner = CliRunner(env={"COLUMNS": str(width), "NO_COLOR": "1"})
    extra = ["--tracking-uri", uri] if uri is not None else []
    result = runner.invoke(app, ["eval", *args, *extra])
    return result.exit_code, result.stdout, result.stderr


def logged(uri: str, tmp_path: Path, name: str, *metrics: str) -> str:
    data = write_jsonl(tmp_path / f"{name}.jsonl", ROWS)
    flags = [x for m in metrics or ("token_f1",) for x in ("-m", m)]
    code, out, err = invoke(uri, "run", data, *flags, "--run-name", name)
    assert code == 0, out + err
    return run_id_in(out)


def test_a_name_of_several_runs_is_an_error_listing_them(sqlite_uri: str, tmp_path: Path) -> None:
    first = logged(sqlite_uri, tmp_path, "rag-eval")
    second = logged(sqlite_uri, tmp_path, "rag-eval")
    code, out, err = invoke(sqlite_uri, "compare", "rag-eval", "rag-eval")
    assert code == 2 and out == ""
    assert err.startswith("error: run name 'rag-eval' matches 2 runs"), err
    client = MlflowClient(sqlite_uri)
    for run_id in (first, second):
        assert run_id in err
        start = client.get_run(run_id).info.start_time
        from llmtrace.views._format import timestamp

        assert timestamp(start) in err
    assert "--latest" in err
    # --latest takes the newest of each name; a run compared with itself is refused
    code, out, err = invoke(sqlite_uri, "compare", "rag-eval", "rag-eval", "--latest")
    assert code == 2 and "the same run" in err, err
    code, out, err = invoke(sqlite_uri, "compare", first, "rag-eval", "--latest")
    assert code == 0, err
    assert f"A: run {first}" in out and f"B: run {second}" in out


def test_rouge_l_is_one_name_from_run_to_compare(sqlite_uri: str, tmp_path: Path) -> None:
    a = logged(sqlite_uri, tmp_path, "a", "rouge_l")
    b = logged(sqlite_uri, tmp_path, "b", "rouge_l")
    assert "rouge_l/mean" in MlflowClient(sqlite_uri).get_run(a).data.metrics
    code, out, err = invoke(sqlite_uri, "compare", a, b, "--metric", "rouge_l")
    assert code == 0, err
    assert re.search(r"^\s*rouge_l\s", out, re.M), out


def test_run_help_lists_the_metric_names() -> None:
    code, out, _ = invoke(None, "run", "--help", width=200)
    assert code == 0
    for name in ("token_f1", "rouge_l", "exact_match", "faithfulness", "latency"):
        assert name in out


def test_an_unknown_trace_experiment_is_a_data_error(sqlite_uri: str) -> None:
    code, out, err = invoke(sqlite_uri, "run", "traces:nosuchexp", "-m", "latency")
    assert code == 2 and out == ""
    assert "nosuchexp" in err and err.count("\n") == 1


def test_run_names_its_experiment(sqlite_uri: str, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    code, out, _ = invoke(sqlite_uri, "run", data, "-m", "token_f1", "-e", "qa-checks")
    assert code == 0
    assert "experiment 'qa-checks'" in out and "experiment id" not in out
    assert "mlflow ui" not in out and "llmtrace ui" in out


def test_compare_reads_a_plain_db_path(sqlite_uri: str, tmp_path: Path) -> None:
    a = logged(sqlite_uri, tmp_path, "a")
    b = logged(sqlite_uri, tmp_path, "b")
    path = sqlite_uri.removeprefix("sqlite:///")
    copy = tmp_path / "copy.db"
    shutil.copy(path, copy)
    for uri in (path, "copy.db"):
        code, out, err = invoke(uri, "compare", a, b)
        assert code == 0, err
        assert f"A: run {a}" in out


@pytest.mark.parametrize("width", [80, 120])
def test_compare_table_fits_and_keeps_every_column(
    sqlite_uri: str, tmp_path: Path, width: int
) -> None:
    metrics = ("token_f1", "id_based_context_recall", "exact_match_normalized", "rouge_l")
    rows = [{**r, "reference_context_ids": ["d"]} for r in ROWS]
    data = write_jsonl(tmp_path / "qa.jsonl", [{**r, "context_ids": ["d"]} for r in rows])
    ids = []
    for name in ("a", "b"):
        flags = [x for m in metrics for x in ("-m", m)]
        code, out, err = invoke(sqlite_uri, "run", data, *flags, "--run-name", name)
        assert code == 0, err
        ids.append(run_id_in(out))
    code, out, _ = invoke(sqlite_uri, "compare", *ids, width=width)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width
    header = next(line for line in lines if line.split()[:2] == ["metric", "n"])
    assert header.split() == ["metric", "n", "A", "B", "Δ", "95%", "CI", "p", "verdict", "+err"]
    f1 = next(line for line in lines if line.split() and line.split()[0] == "token_f1")
    assert f1.split()[1] == "4" and "…" not in out


def test_the_help_names_are_the_built_in_metrics() -> None:
    from evals.cli import JUDGE_METRIC_NAMES, METRIC_NAMES, metric_factories

    listed = METRIC_NAMES.split() + JUDGE_METRIC_NAMES.split()
    assert sorted(listed) == sorted(metric_factories())


@pytest.mark.parametrize("width", [80, 120])
def test_run_table_fits_and_keeps_every_column(sqlite_uri: str, tmp_path: Path, width: int) -> None:
    """``eval run``'s aggregates at 80 and 120 columns: every column, name and verdict whole."""
    metrics = ("token_f1", "id_based_context_recall", "exact_match_normalized", "rouge_l")
    rows = [{**r, "context_ids": ["d"], "reference_context_ids": ["d"]} for r in ROWS]
    data = write_jsonl(tmp_path / "qa.jsonl", rows)
    flags = [x for m in metrics for x in ("-m", m)]
    gates = ["--fail-under", "token_f1=0.6", "--fail-under", "exact_match_normalized/pass_rate=0.5"]
    code, out, err = invoke(sqlite_uri, "run", data, *flags, *gates, width=width)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width
    header = next(line for line in lines if line.split()[:2] == ["metric", "mean"])
    assert header.split() == ["metric", "mean", "p50", "pass", "thr", "n", "err", "gate"]
    cells = {line.split()[0]: line.split() for line in lines if line.split()}
    assert set(metrics) <= set(cells)  # every metric name whole, on its own line
    assert cells["token_f1"][1:3] == ["0.625", "0.750"] and cells["token_f1"][5:] == [
        "4",
        "0",
        "ok",
        ">=0.6",
    ]
    assert cells["exact_match_normalized"][-2:] == ["ok", "pass_rate>=0.5"]
    assert "…" not in out
