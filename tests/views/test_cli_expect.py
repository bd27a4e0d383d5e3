"""`llmtrace traces expect`: an expectation typed on the command line is an MLflow assessment,
and a dataset built from the trace carries it."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import evals
import llmtrace
from llmtrace.cli import app


@pytest.fixture
def traced(tmp_path: Path) -> tuple[str, list[str]]:
    """Two traces in a fresh SQLite store: (uri, trace ids)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="ex", schedule_delay_ms=20)
    ids = []
    for question, answer in [("capital of France?", "Lyon"), ("facts about Paris?", "big")]:
        with llmtrace.span("answer") as root:
            root.set_inputs({"question": question})
            root.set_outputs(answer)
        ids.append(root.trace_id)
    llmtrace.flush()
    return uri, ids


def cli(uri: str, *args: str) -> tuple[int, str, str]:
    runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1", "USER": "carol"})
    result = runner.invoke(app, [*args, "--tracking-uri", uri, "--experiment", "ex"])
    return result.exit_code, result.stdout, result.stderr


def test_cli_expectation_is_stored_and_reaches_the_dataset(traced: tuple[str, list[str]]) -> None:
    uri, ids = traced
    code, out, err = cli(uri, "traces", "expect", ids[0], "expected_response", "Paris")
    assert (code, err) == (0, "")
    assert out.strip() == f'logged expectation expected_response = "Paris" on {ids[0]}'
    facts = '["capital of France", "on the Seine"]'
    assert cli(uri, "traces", "expect", ids[1], "expected_facts", facts, "--source", "code")[0] == 0
    stored = {(t, a.name): a for t in ids for a in MlflowClient(uri).get_trace(t).info.assessments}
    paris = stored[(ids[0], "expected_response")]
    assert paris.expectation is not None and paris.feedback is None
    assert (paris.value, paris.source.source_type, paris.source.source_id) == (
        "Paris", "HUMAN", "carol",
    )  # fmt: skip
    listed = stored[(ids[1], "expected_facts")]
    assert listed.value == ["capital of France", "on the Seine"]
    assert listed.source.source_type == "CODE"
    records = {
        r["source"]["source_data"]["trace_id"]: r["expectations"]
        for r in evals.datasets.from_traces().records
    }
    assert records == {
        ids[0]: {"expected_response": "Paris"},
        ids[1]: {"expected_facts": ["capital of France", "on the Seine"]},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tr-" + "0" * 32, "expected_response", "x"], "error: no trace 'tr-0000"),
        (["{id}", "expected_facts", "[1, 2"], "is not valid JSON"),
        (["{id}", " ", "x"], "error: traces expect: name must be a non-empty text"),
        (["{id}", "expected_response", "x", "--source", "robot"], "traces expect: source 'robot'"),
    ],
)
def test_cli_expectation_mistakes_are_one_line(
    traced: tuple[str, list[str]], args: list[str], message: str
) -> None:
    uri, ids = traced
    code, out, err = cli(uri, "traces", "expect", *[a.format(id=ids[0]) for a in args])
    assert code == 1 and out == "" and message in err and err.count("\n") == 1
    assert all(not MlflowClient(uri).get_trace(t).info.assessments for t in ids)
