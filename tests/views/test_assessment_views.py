"""Feedback and expectations in the CLI: `traces feedback`, `traces show`, `sessions show`,
the HTML page and `traces list --feedback`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import llmtrace
from llmtrace.cli import app
from llmtrace.views._assessments import feedback_filter, parse_value


@pytest.fixture
def turns(tmp_path: Path) -> tuple[str, list[str]]:
    """Three traced turns of session conv-9 in a fresh SQLite store: (uri, trace ids)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="fb", schedule_delay_ms=20)
    ids = []
    with llmtrace.session("conv-9", user="bob"):
        for question, answer in [("capital of France?", "Lyon"), ("2+2?", "4"), ("hi", "hello")]:
            with llmtrace.span("chat_turn") as turn:
                turn.set_inputs({"message": question})
                turn.set_outputs(answer)
            ids.append(turn.trace_id)
            time.sleep(0.01)  # turns are ordered by their start millisecond
    llmtrace.flush()
    llmtrace.shutdown()
    return uri, ids


def cli(uri: str, *args: str) -> tuple[int, str, str]:
    runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1", "USER": "carol"})
    result = runner.invoke(app, [*args, "--tracking-uri", uri, "--experiment", "fb"])
    return result.exit_code, result.stdout, result.stderr


def test_cli_feedback_is_stored_as_mlflow_assessments(turns: tuple[str, list[str]]) -> None:
    uri, ids = turns
    code, out, err = cli(uri, "traces", "feedback", ids[0], "helpful", "false", "-r", "wrong city")
    assert (code, err) == (0, "") and out.strip() == f"logged feedback helpful = false on {ids[0]}"
    assert cli(uri, "traces", "feedback", ids[0], "rating", "2")[0] == 0
    assert cli(uri, "traces", "feedback", ids[1], "rating", "4.0", "--source", "code")[0] == 0
    assert cli(uri, "traces", "feedback", ids[2], "topic", "small talk", "--source-id", "x")[0] == 0
    stored = {
        (t, a.name): a for t in ids for a in MlflowClient(uri).get_trace(t).info.assessments
    }
    helpful = stored[(ids[0], "helpful")]
    assert (helpful.value, helpful.rationale) == (False, "wrong city")
    assert (helpful.source.source_type, helpful.source.source_id) == ("HUMAN", "carol")
    assert stored[(ids[0], "rating")].value == 2 and type(stored[(ids[0], "rating")].value) is int
    assert stored[(ids[1], "rating")].value == 4.0
    assert stored[(ids[1], "rating")].source.source_type == "CODE"
    assert (stored[(ids[2], "topic")].value, stored[(ids[2], "topic")].source.source_id) == (
        "small talk", "x",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tr-" + "0" * 32, "helpful", "true"], "error: no trace 'tr-0000"),
        (["{id}", "helpful", "true", "--source", "robot"], "traces feedback: source 'robot'"),
        (["{id}", " ", "true"], "error: traces feedback: name must be a non-empty text"),
        (["{id}", "helpful", "true", "--span-id", "ffff"], "has no span 'ffff'"),
    ],
)
def test_cli_feedback_mistakes_are_one_line(
    turns: tuple[str, list[str]], args: list[str], message: str
) -> None:
    uri, ids = turns
    code, out, err = cli(uri, "traces", "feedback", *[a.format(id=ids[0]) for a in args])
    assert code == 1 and out == "" and message in err and err.count("\n") == 1
    assert all(not MlflowClient(uri).get_trace(t).info.assessments for t in ids)


def test_show_session_and_html_print_the_assessments(
    turns: tuple[str, list[str]], tmp_path: Path
) -> None:
    uri, ids = turns
    llmtrace.configure(tracking_uri=uri, experiment="fb")
    llmtrace.log_feedback(ids[0], "helpful", False, rationale="Lyon is wrong", source_id="ann")
    llmtrace.log_expectation(ids[0], "expected_response", "Paris")
    llmtrace.log_feedback(ids[1], "correct", True, source="code")
    code, out, _ = cli(uri, "traces", "show", ids[0])
    assert code == 0
    block = out[out.index("\nassessments\n") :].splitlines()[2:]
    assert [" ".join(line.split()) for line in block] == [
        "feedback helpful = false (human ann) Lyon is wrong",
        "expectation expected_response = Paris (human)",
    ]
    assert "assessments" not in cli(uri, "traces", "show", ids[2])[1]
    code, out, _ = cli(uri, "sessions", "show", "conv-9")
    assert code == 0
    turn1, turn2, turn3 = out.split("turn ")[1:]
    assert "feedback    helpful = false  (human ann)  Lyon is wrong" in turn1
    assert "expectation expected_response = Paris  (human)" in turn1
    assert "feedback    correct = true  (code)" in turn2
    assert "feedback" not in turn3
    page = tmp_path / "t.html"
    assert cli(uri, "traces", "export", ids[0], "--html", str(page))[0] == 0
    html = page.read_text()
    assert "<h2>Assessments</h2>" in html
    assert "<td>feedback</td><td>helpful</td><td>false</td><td>human ann</td>" in html
    assert "<td>Lyon is wrong</td>" in html and "<td>expected_response</td><td>Paris</td>" in html


def test_traces_list_filters_on_feedback(turns: tuple[str, list[str]]) -> None:
    uri, ids = turns
    llmtrace.configure(tracking_uri=uri, experiment="fb")
    llmtrace.log_feedback(ids[0], "helpful", False)
    llmtrace.log_feedback(ids[1], "helpful", True)
    llmtrace.log_feedback(ids[0], "rating", 2)
    llmtrace.log_feedback(ids[1], "rating", 4.0)
    llmtrace.log_feedback(ids[2], "rating", 5)
    llmtrace.log_feedback(ids[2], "topic", "small talk")

    def listed(*specs: str) -> list[str]:
        args = [a for spec in specs for a in ("--feedback", spec)]
        code, out, err = cli(uri, "traces", "list", *args, "--json")
        assert code == 0, err
        import json

        return sorted(ids.index(t["trace_id"]) for t in json.loads(out))

    assert listed("helpful=false") == [0]
    assert listed("helpful=TRUE") == [1]
    assert listed("helpful") == [0, 1]
    assert listed("rating=4") == [1]
    assert listed("rating>=4") == [1, 2]
    assert listed("rating<3") == [0]
    assert listed("topic=small talk") == [2]
    assert listed("rating>=4", "helpful=true") == [1]
    code, _, err = cli(uri, "traces", "list", "--feedback", "topic>=small")
    assert code == 1 and "needs a number" in err


def test_feedback_filter_and_value_parsing() -> None:
    assert feedback_filter("helpful = false") == "feedback.`helpful` = 'false'"
    assert feedback_filter("rating=4") == "feedback.`rating` >= 4 AND feedback.`rating` <= 4"
    assert feedback_filter("score>0.5") == "feedback.`score` > 0.5"
    assert feedback_filter("tone='it''s'") == "feedback.`tone` = \"it''s\""
    assert feedback_filter("helpful") == "feedback.`helpful` IS NOT NULL"
    assert [parse_value(v) for v in ("true", "False", "4", "-2", "0.5", "1e3", "ok", "4 cats")] == [
        True, False, 4, -2, 0.5, 1000.0, "ok", "4 cats",
    ]  # fmt: skip
    with pytest.raises(llmtrace.LLMTraceError, match="write NAME=VALUE"):
        feedback_filter("=x")
