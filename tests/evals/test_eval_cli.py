"""``llmtrace eval run|compare`` through typer's CliRunner against a real temp SQLite store."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from evals._compare import paired_test
from llmtrace.cli import app

#: token F1 per row: 1, 1, 0.5 ("red apple" vs "red pear"), 0  ⇒ mean 0.625; exact match 0.5
ROWS = [
    {"question": "Capital of France?", "answer": "Paris", "expected": "Paris"},
    {"question": "Capital of Germany?", "answer": "Berlin", "expected": "Berlin"},
    {"question": "What fruit?", "answer": "the red apple", "expected": "red pear"},
    {"question": "Sky colour?", "answer": "blue", "expected": "green"},
]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in the temp folder: run artifacts (./mlruns beside a SQLite store) land there."""
    monkeypatch.chdir(tmp_path)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def invoke(uri: str, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``llmtrace eval ARGS --tracking-uri URI``."""
    runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"})
    result = runner.invoke(app, ["eval", *args, "--tracking-uri", uri])
    return result.exit_code, result.stdout, result.stderr


def run_id_in(out: str) -> str:
    return out.split("run ", 1)[1].split()[0]


def test_run_meeting_its_thresholds_exits_0_and_logs_the_run(
    sqlite_uri: str, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    code, out, err = invoke(
        sqlite_uri,
        "run",
        data,
        "-m",
        "exact_match",
        "--metric",
        "token_f1",
        "--metric",
        "rouge_l",
        "--fail-under",
        "token_f1=0.6",
        "--fail-under",
        "exact_match/pass_rate=0.5",
        "--experiment",
        "cli-evals",
        "--run-name",
        "gate-ok",
    )
    assert code == 0, out + err
    assert "passed: all 2 --fail-under thresholds met" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["token_f1"][1:3] == ["0.625", "0.750"]  # mean, p50
    assert lines["exact_match"][1] == "0.500"
    assert "ok >=0.6" in lines["token_f1"][-2] + " " + lines["token_f1"][-1]
    run = MlflowClient(sqlite_uri).get_run(run_id_in(out))
    assert run.info.run_name == "gate-ok" and run.info.status == "FINISHED"
    assert run.data.params["metrics"] == "exact_match,token_f1,rouge_l"
    assert run.data.metrics["token_f1/mean"] == pytest.approx(0.625)
    assert run.data.metrics["eval/rows"] == 4.0


def test_run_missing_a_threshold_exits_1_and_says_which(sqlite_uri: str, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    code, out, _ = invoke(
        sqlite_uri,
        "run",
        data,
        "-m",
        "token_f1",
        "-m",
        "exact_match",
        "--fail-under",
        "token_f1=0.7",
        "--fail-under",
        "exact_match=0.5",
    )
    assert code == 1
    assert "FAILED: token_f1 mean 0.625 < 0.7" in out
    assert "FAILED: exact_match" not in out  # 0.5 >= 0.5 passes
    code, out, _ = invoke(
        sqlite_uri, "run", data, "-m", "token_f1", "--fail-under", "token_f1=0.7", "--json"
    )
    payload = json.loads(out)
    assert code == 1 and payload["passed"] is False
    assert payload["gates"] == [
        {"metric": "token_f1", "stat": "mean", "minimum": 0.7, "value": 0.625, "passed": False}
    ]
    assert payload["aggregates"]["token_f1"]["n_scored"] == 4
    assert MlflowClient(sqlite_uri).get_run(payload["run_id"]).info.status == "FINISHED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "tokenf1"], "unknown metric 'tokenf1'; valid: answer_chars, answer_relevancy"),
        (["-m", "token_f1", "--fail-under", "token_f1>0.5"], "write METRIC=MIN"),
        (["-m", "token_f1", "--fail-under", "rouge_l=0.5"], "'rouge_l' is not among"),
        (["-m", "faithfulness"], "add --judge MODEL"),
        (["-m", "non_llm_context_recall"], "needs column 'contexts'"),
    ],
)
def test_mistakes_are_one_line_errors_with_exit_2(
    sqlite_uri: str, tmp_path: Path, args: list[str], message: str
) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    code, out, err = invoke(sqlite_uri, "run", data, *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    if args[1] == "tokenf1":  # every valid name is listed
        assert "token_f1" in err and "faithfulness" in err and "rouge_l" in err
    assert MlflowClient(sqlite_uri).search_runs(["0"]) == []  # nothing logged


def exact_permutation_p(a: list[float], b: list[float]) -> float:
    """Two-sided sign-flip p-value by brute force (independent of evals._compare)."""
    d = [y - x for x, y in zip(a, b, strict=True)]
    observed = abs(sum(d) / len(d))
    hits = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        hits += abs(sum(s * v for s, v in zip(signs, d, strict=True)) / len(d)) >= observed - 1e-12
    return hits / 2 ** len(d)


def test_compare_finds_the_regressed_rows_with_a_paired_test(
    sqlite_uri: str, tmp_path: Path
) -> None:
    questions = [f"Question number {i}?" for i in range(12)]
    good = [
        {"question": q, "answer": f"answer {i} is here", "expected": f"answer {i} is here"}
        for i, q in enumerate(questions)
    ]
    worse = [dict(r) for r in good]
    worse[3]["answer"] = "nothing useful"  # the big regression: token F1 1 -> 0
    for i in (1, 5, 7, 9, 10):
        worse[i]["answer"] = f"answer {i}"  # small ones: F1 1 -> 0.67
    random.Random(4).shuffle(worse)  # rows are paired by question, not by position
    a = write_jsonl(tmp_path / "a.jsonl", good)
    b = write_jsonl(tmp_path / "b.jsonl", worse)
    codes = []
    for data, name in ((a, "baseline"), (b, "candidate")):
        code, out, err = invoke(sqlite_uri, "run", data, "-m", "token_f1", "--run-name", name)
        codes.append(code)
    assert codes == [0, 0]
    code, out, err = invoke(sqlite_uri, "compare", "baseline", "candidate", "--top", "2")
    assert code == 0, out + err
    assert "paired by question: 12 rows in both, 0 only in A, 0 only in B" in out
    f1_small = 2 * (2 / 4 * 1.0) / (2 / 4 + 1.0)
    b_values = [1.0] * 12
    b_values[3] = 0.0
    for i in (1, 5, 7, 9, 10):
        b_values[i] = f1_small
    expected_p = exact_permutation_p([1.0] * 12, b_values)
    assert 0 < expected_p < 0.05
    metric_line = next(line for line in out.splitlines() if line.startswith(" token_f1"))
    assert f"{expected_p:.4f}" in metric_line.split() and "WORSE" in metric_line
    regressed = out.split("Rows that regressed most", 1)[1].splitlines()
    rows = [line.split() for line in regressed if "Question number" in line]
    assert [r[3] for r in rows] == ["3?", "1?"]  # worst first: F1 1 -> 0, then 1 -> 0.667
    assert rows[0][-3:] == ["1.000", "0.000", "-1.000"]

    code, out, _ = invoke(sqlite_uri, "compare", "baseline", "candidate", "--json")
    payload = json.loads(out)
    (metric,) = payload["metrics"]
    assert metric["exact"] is True and metric["verdict"] == "worse"
    assert metric["p_value"] == pytest.approx(expected_p)
    assert metric["delta"] == pytest.approx((sum(b_values) - 12) / 12)
    assert metric["ci_low"] <= metric["delta"] <= metric["ci_high"] < 0
    assert [r["key"] for r in payload["regressions"]][:2] == [questions[3], questions[1]]
    code, _, _ = invoke(sqlite_uri, "compare", "baseline", "candidate", "--fail-on-regression")
    assert code == 1
    code, out, err = invoke(sqlite_uri, "compare", "baseline", "baseline", "--json")
    assert code == 2 and "the same run" in err  # never a silent comparison with itself


def test_compare_unknown_run_is_a_one_line_error(sqlite_uri: str, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    assert invoke(sqlite_uri, "run", data, "-m", "token_f1", "--run-name", "a")[0] == 0
    code, out, err = invoke(sqlite_uri, "compare", "a", "no-such-run")
    assert code == 2 and out == ""
    assert err == "error: no run with id or name 'no-such-run' in this store\n"


def test_paired_test_sampled_p_value_is_seeded_and_close_to_exact() -> None:
    rng = random.Random(0)
    a = [rng.random() for _ in range(14)]
    b = [x - 0.05 + rng.gauss(0, 0.1) for x in a]
    exact = paired_test(a, b, resamples=2**14)
    assert exact.exact and exact.p_value == pytest.approx(exact_permutation_p(a, b))
    first = paired_test(a, b, resamples=5000, seed=7)
    again = paired_test(a, b, resamples=5000, seed=7)
    assert not first.exact and first == again
    assert first.p_value == pytest.approx(exact.p_value, abs=0.03)


def test_run_with_a_judge_on_a_local_server_then_from_the_cache(
    sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrace.testing import StandIn, judge_reply

    monkeypatch.setenv("LLMTRACE_JUDGE_CACHE", str(tmp_path / "judge_cache.sqlite"))
    context = ["Paris is the capital of France. It lies on the Seine."]
    data = write_jsonl(
        tmp_path / "rag.jsonl",
        [
            {
                "question": "Capital?",
                "answer": "Paris is the capital of France.",
                "contexts": context,
            },
            {
                "question": "River?",
                "answer": "Paris lies on the Seine. Paris has ten million bakeries.",
                "contexts": context,
            },
        ],
    )
    with StandIn(judge_reply) as standin:  # 127.0.0.1; word overlap: row 1 → 1.0, row 2 → 0.5
        args = ["run", data, "-m", "faithfulness", "--judge", "gpt-4o-mini"]
        args += ["--base-url", standin.url, "--fail-under", "faithfulness=0.7", "--json"]
        code, out, err = invoke(sqlite_uri, *args)
        assert code == 0, out + err
        first = json.loads(out)
        assert first["aggregates"]["faithfulness"]["mean"] == pytest.approx(0.75)
        assert first["judge_usage"]["calls"] == standin.counts["chat"] == 4
        code, out, _ = invoke(sqlite_uri, *args)
        second = json.loads(out)
        assert code == 0 and second["passed"] is True
        assert second["judge_usage"]["calls"] == 0 and second["judge_usage"]["cached_calls"] == 4
        assert standin.counts["chat"] == 4  # nothing new reached the server
        code, out, _ = invoke(sqlite_uri, *args[:-3], "--fail-under", "faithfulness=0.8")
        assert code == 1 and "FAILED: faithfulness mean 0.750 < 0.8" in out
    run = MlflowClient(sqlite_uri).get_run(second["run_id"])
    assert run.data.params["judge.model"] == "gpt-4o-mini"
    assert run.data.metrics["judge/cached_calls"] == 4.0


def test_compare_prints_data_literally_not_as_markup(sqlite_uri: str, tmp_path: Path) -> None:
    question = "What does [bold]x[/bold] or [/] mean?"
    rows = [{"question": question, "answer": "a b", "expected": "a b"}]
    worse = [{"question": question, "answer": "c", "expected": "a b"}]
    for data, name in ((rows, "one"), (worse, "two")):
        path = write_jsonl(tmp_path / f"{name}.jsonl", data)
        assert invoke(sqlite_uri, "run", path, "-m", "token_f1", "--run-name", name)[0] == 0
    code, out, err = invoke(sqlite_uri, "compare", "one", "two")
    assert code == 0, out + err
    assert question in out  # the regressed row, as written
