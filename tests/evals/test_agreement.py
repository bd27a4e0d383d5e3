"""`evals.agreement` and ``llmtrace eval agreement``: is the judge right, measured against people.

The statistics are checked three ways: small tables whose κ and alpha are worked out by hand (in
the comments), the human-scored TruLens golden sets (answer and context relevance) scored by a
scripted, deterministic judge and checked against the textbook formulas written out below, and
end to end: human feedback on real traces in a real SQLite store (written with MLflow's own
``mlflow.log_feedback``), read back by `agreement` and logged on the evaluation run.
"""

from __future__ import annotations

import json
import re
import types
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource
from typer.testing import CliRunner

import evals
import llmtrace
from evals import JudgeReply
from llmtrace.cli import app
from tests.evals import trulens_golden


# -- references written from the definitions (not from the libraries evals uses) -----------------
def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """κ = (p_o - p_e) / (1 - p_e), p_e from the two raters' marginals (Cohen 1960)."""
    n = len(a)
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[c] * cb[c] for c in set(a) | set(b)) / n**2
    return (p_o - p_e) / (1 - p_e)


def krippendorff_alpha(a: Sequence[float], b: Sequence[float], level: str) -> float:
    """alpha = 1 - (n - 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck over the coincidence matrix of two raters
    with no missing values (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability")."""
    values = sorted(set(a) | set(b))
    o = {(c, k): 0.0 for c in values for k in values}
    for x, y in zip(a, b, strict=True):  # each unit: both ordered pairs, weight 1/(m - 1) = 1
        o[x, y] += 1
        o[y, x] += 1
    n_c = {c: sum(o[c, k] for k in values) for c in values}
    n = sum(n_c.values())

    def delta2(c: float, k: float) -> float:
        if level == "nominal":
            return 0.0 if c == k else 1.0
        if level == "interval":
            return (c - k) ** 2
        lo, hi = sorted((values.index(c), values.index(k)))
        return (sum(n_c[g] for g in values[lo : hi + 1]) - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(o[c, k] * delta2(c, k) for c in values for k in values)
    expected = sum(n_c[c] * n_c[k] * delta2(c, k) for c in values for k in values)
    return 1 - (n - 1) * observed / expected


# -- small tables, worked by hand ------------------------------------------------------------------
def test_kappa_of_the_textbook_two_by_two_table() -> None:
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; κ = (0.7 - 0.5) / 0.5 = 0.4
    judge = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    people = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    report = evals.agreement(judge, people)
    assert report.accuracy == pytest.approx(0.7)
    assert report.kappa == pytest.approx(0.4)
    assert report["kappa"] == report.kappa
    m = report["judge"]
    assert m.scale == "nominal" and m.categories == [0.0, 1.0]
    # rows people, columns judge: people no & judge no 15, people no & judge yes 5, ...
    assert m.confusion == [[15, 5], [10, 20]]
    assert m.n == 50 and m.n_missing == 0


def test_binary_example_of_krippendorff_2011() -> None:
    # Krippendorff (2011), example A: two observers, ten units, binary; he reports alpha = 0.095.
    # Cohen: p_o = 6/10; A says 1 twice, B four times: p_e = .2*.4 + .8*.6 = .56;
    # κ = (.6 - .56) / .44 = 0.0909...
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    report = evals.agreement(a, b)
    assert report.alpha == pytest.approx(0.095, abs=5e-4)
    assert report.kappa == pytest.approx(0.04 / 0.44)
    assert report.accuracy == pytest.approx(0.6)


def test_ordinal_rubric_scores_by_hand() -> None:
    # judge 1 2 3 3, people 1 2 2 3. Coincidences: o11=2, o22=2, o23=o32=1, o33=2;
    # n1=2, n2=3, n3=3, n=8. Ordinal δ²: (1,2)=(5/2)²=6.25, (2,3)=(6/2)²=9, (1,3)=(8-5/2)²=30.25.
    # Σ o δ² = 2*9 = 18; Σ n_c n_k δ² = 2*(6*6.25 + 6*30.25 + 9*9) = 600;
    # alpha = 1 - 7*18/600 = 0.79.
    # κ: p_o = 3/4, p_e = (1*1 + 1*2 + 2*1)/16 = 5/16: κ = (12/16 - 5/16)/(11/16) = 7/11.
    # quadratic κ: observed 1/4 * 1/4 = 1/16, expected 5/16 ⇒ 1 - 1/5 = 0.8.
    report = evals.agreement([1, 2, 3, 3], [1, 2, 2, 3])
    assert report["judge"].scale == "ordinal"
    assert report.alpha == pytest.approx(0.79)
    assert report.kappa == pytest.approx(7 / 11)
    assert report.weighted_kappa == pytest.approx(0.8)
    assert report.accuracy == pytest.approx(0.75)
    (d,) = report["judge"].disagreements
    assert (d.row, d.judge, d.human, d.distance) == (2, 3.0, 2.0, 1.0)


def test_labels_are_normalised_missing_rows_left_out_and_one_category_is_undefined() -> None:
    report = evals.agreement([1.0, 0.0, None, 1.0], ["yes", "no", "yes", None])
    m = report["judge"]
    assert (m.n, m.n_missing, m.accuracy, m.kappa) == (2, 2, 1.0, 1.0)
    same = evals.agreement([1, 1, 1], [True, True, True])
    assert same.accuracy == 1.0 and same.kappa is None and same.alpha is None  # p_e = 1


def test_disagreements_come_furthest_apart_first() -> None:
    judge = [1, 5, 3, 2, 4]
    people = [1, 1, 2, 2, 5]  # distances in ranks of {1,2,3,4,5}: 0, 4, 1, 0, 1
    report = evals.agreement(judge, people, top=2)
    rows = [(d.row, d.distance) for d in report["judge"].disagreements]
    assert rows == [(1, 4.0), (2, 1.0)]


@pytest.mark.parametrize(
    ("judge", "labels", "message"),
    [
        ([1, 0], [1], "2 judge scores but 1 labels"),
        ([1, 0], ["toxic", "clean"], "label_map"),
        ([1, 0], "correct", "pass the people's labels as a list too"),
    ],
)
def test_mistakes_get_one_clear_line(judge: Any, labels: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        evals.agreement(judge, labels)


def test_label_map_and_threshold() -> None:
    labels = ["clean", "toxic", "toxic"]
    report = evals.agreement(
        [0.9, 0.2, 0.7], labels, label_map={"clean": 1, "toxic": 0}, threshold=0.5
    )
    assert report.accuracy == pytest.approx(2 / 3)
    assert report["judge"].threshold == 0.5


# -- the TruLens golden sets, a scripted judge --------------------------------------------------
@pytest.fixture(scope="session")
def golden() -> types.ModuleType:
    """TruLens' test_cases module from the trulens-benchmark wheel (fetched once)."""
    try:
        return trulens_golden.load()
    except trulens_golden.GoldenSetError as exc:
        if trulens_golden.ON_CI:
            pytest.fail(f"cannot run on CI: the TruLens golden sets are needed: {exc}")
        pytest.skip(f"TruLens golden sets unavailable (no registry?): {exc}")


_WORDS = re.compile(r"[a-z0-9]+")


class ScriptedJudge:
    """A deterministic judge: relevance = share of the query's words (4+ letters) the text
    repeats, on the 0.1 grid. Not an LLM; it answers through evals' `Judge` protocol."""

    model = "scripted-overlap"

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def relevance(query: str, text: str) -> float:
        wanted = {w for w in _WORDS.findall(query.lower()) if len(w) >= 4}
        if not wanted:
            return 0.0
        found = set(_WORDS.findall(text.lower()))
        return round(len(wanted & found) / len(wanted), 1)

    def ask(self, *, prompt_id: str, prompt_version: str, messages: Any, schema: Any) -> Any:
        self.calls += 1
        payload = json.loads(messages[-1]["content"])
        score = self.relevance(payload["query"], payload["text"])
        return JudgeReply(data={"score": score}, raw=json.dumps({"score": score}))


@evals.metric(name="relevance")
def scripted_relevance(question: str, answer: str, judge: Any) -> tuple[float, str]:
    content = json.dumps({"query": question, "text": answer})
    reply = judge.ask(
        prompt_id="relevance",
        prompt_version="1",
        messages=[{"role": "user", "content": content}],
        schema={},
    )
    return reply.data["score"], f"{reply.data['score']:.1f} of the query's words are repeated"


GOLDEN_SETS = ["answer_relevance_golden_set", "context_relevance_golden_set"]


@pytest.mark.parametrize("name", GOLDEN_SETS)
def test_statistics_on_the_trulens_golden_sets(golden: types.ModuleType, name: str) -> None:
    cases = getattr(golden, name)
    assert len(cases) >= 15
    people = [float(c["expected_score"]) for c in cases]
    judge = [ScriptedJudge.relevance(c["query"], c["expected_response"]) for c in cases]
    assert len(set(judge)) > 2 and len(set(people)) > 2  # really a rubric on both sides

    report = evals.agreement(judge, people)  # rubric scores: ordinal
    m = report["judge"]
    assert m.scale == "ordinal" and m.n == len(cases)
    assert m.accuracy == pytest.approx(
        sum(round(j, 9) == round(p, 9) for j, p in zip(judge, people, strict=True)) / len(cases)
    )
    assert m.kappa == pytest.approx(cohen_kappa(judge, people), abs=1e-12)
    assert m.alpha == pytest.approx(krippendorff_alpha(judge, people, "ordinal"), abs=1e-12)
    counts = Counter(zip(people, judge, strict=True))
    assert m.confusion == [[counts[p, j] for j in m.categories] for p in m.categories]
    assert sum(map(sum, m.confusion)) == len(cases)

    interval = evals.agreement(judge, people, scale="interval")
    assert interval.alpha == pytest.approx(krippendorff_alpha(judge, people, "interval"))

    # pass/fail at 0.5 on both sides: nominal κ and alpha from the 2x2 table
    passed = evals.agreement(judge, people, threshold=0.5)
    bj = [float(j >= 0.5) for j in judge]
    bp = [float(p >= 0.5) for p in people]
    assert passed["judge"].scale == "nominal"
    assert passed.kappa == pytest.approx(cohen_kappa(bj, bp), abs=1e-12)
    assert passed.alpha == pytest.approx(krippendorff_alpha(bj, bp, "nominal"), abs=1e-12)
    assert passed.accuracy == pytest.approx(sum(map(float.__eq__, bj, bp)) / len(cases))
    worst = passed["judge"].disagreements
    assert all(d.judge != d.human for d in worst)


# -- end to end: traces, human feedback through MLflow, the run ------------------------------------
@pytest.fixture
def store(sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """llmtrace and MLflow's fluent API both on the temp SQLite store."""
    monkeypatch.chdir(tmp_path)
    saved = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(sqlite_uri)
    yield sqlite_uri
    mlflow.set_tracking_uri(saved)


def _traced_golden_rows(cases: list[dict[str, Any]], feedback: str) -> list[dict[str, Any]]:
    """One trace per case (the app answers with the golden response), and a person's score as
    HUMAN feedback on it, written by MLflow's own ``mlflow.log_feedback``."""
    rows = []
    for case in cases:
        with llmtrace.span("answer", kind="CHAIN") as span:
            span.set_inputs({"question": case["query"]})
            span.set_outputs(case["expected_response"])
            trace_id = span.trace_id
        rows.append(
            {
                "question": case["query"],
                "answer": case["expected_response"],
                "trace_id": trace_id,
                "score": case["expected_score"],
            }
        )
    llmtrace.flush()
    for row in rows:
        mlflow.log_feedback(
            trace_id=row["trace_id"],
            name=feedback,
            value=row.pop("score"),
            source=AssessmentSource(source_type="HUMAN", source_id="trulens-annotator"),
        )
    return rows


@pytest.mark.slow
def test_agreement_with_human_feedback_on_traces_logged_on_the_run(
    store: str, golden: types.ModuleType, tmp_path: Path
) -> None:
    cases = golden.answer_relevance_golden_set
    # the human feedback is named like the metric: the judge's own feedback must not count
    rows = _traced_golden_rows(cases, feedback="relevance")
    first = rows[0]["trace_id"]
    mlflow.log_feedback(  # the annotator changes their mind: the newest human score counts
        trace_id=first,
        name="relevance",
        value=0.0,
        source=AssessmentSource(source_type="HUMAN", source_id="trulens-annotator"),
    )
    judge = ScriptedJudge()
    result = evals.evaluate(rows, [scripted_relevance], judge=judge, run_name="golden-ar")
    assert result.log_error is None and judge.calls == len(cases)

    trace = MlflowClient(store).get_trace(first)
    sources = {a.source.source_type for a in trace.info.assessments if a.name == "relevance"}
    assert sources == {"HUMAN", "LLM_JUDGE"}

    report = evals.agreement(result, labels="relevance")
    people = [0.0] + [float(c["expected_score"]) for c in cases[1:]]
    expected = evals.agreement(list(result.table["relevance/value"]), people)
    m = report["relevance"]
    assert (m.accuracy, m.kappa, m.alpha) == (expected.accuracy, expected.kappa, expected.alpha)
    assert m.kappa == pytest.approx(cohen_kappa(list(result.table["relevance/value"]), people))
    assert report.run_id == result.run_id and report.log_error is None
    assert all(d.trace_id and d.question and d.reason for d in m.disagreements)

    client = MlflowClient(store)
    logged = client.get_run(result.run_id).data.metrics
    assert logged["agreement/relevance/relevance/kappa"] == pytest.approx(m.kappa)
    assert logged["agreement/relevance/relevance/alpha"] == pytest.approx(m.alpha)
    assert logged["agreement/relevance/relevance/n"] == len(cases)
    folder = client.download_artifacts(result.run_id, "agreement", str(tmp_path / "dl"))
    table = json.loads((Path(folder) / "relevance.json").read_text())
    assert len(table["data"]) == len(cases)
    trace_col = table["columns"].index("trace_id")
    assert {r[trace_col] for r in table["data"]} == {r["trace_id"] for r in rows}
    summary = json.loads((Path(folder) / "relevance_summary.json").read_text())
    assert summary["metrics"]["relevance"]["confusion"] == m.confusion

    # the same from the run id alone, and from the command line (by run name)
    again = evals.agreement(result.run_id, "relevance", log=False)
    assert again["relevance"].kappa == m.kappa and again.run_id is None
    runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"})
    out = runner.invoke(
        app,
        [
            "eval",
            "agreement",
            "golden-ar",
            "--feedback",
            "relevance",
            "--tracking-uri",
            store,
            "--json",
            "--no-log",
        ],
    )
    assert out.exit_code == 0, out.stderr
    payload = json.loads(out.stdout)
    assert payload["metrics"]["relevance"]["alpha"] == pytest.approx(m.alpha)
    text = runner.invoke(
        app,
        [
            "eval",
            "agreement",
            result.run_id,
            "-f",
            "relevance",
            "--threshold",
            "0.5",
            "--tracking-uri",
            store,
        ],
    )
    assert text.exit_code == 0, text.stderr
    assert "confusion (rows: people, columns: judge)" in text.stdout
    assert "disagree most" in text.stdout and "nominal (>=0.5)" in text.stdout


def test_labels_from_a_column_and_bad_names(store: str) -> None:
    rows = [
        {"question": "q1", "answer": "Paris", "expected": "Paris", "ok": True},
        {"question": "q2", "answer": "Lyon", "expected": "Paris", "ok": True},
        {"question": "q3", "answer": "Nice", "expected": "Rome", "ok": False},
    ]
    result = evals.evaluate(rows, [evals.metrics.exact_match()], log_to_mlflow=False)
    report = evals.agreement(result, labels="ok")
    assert report.accuracy == pytest.approx(2 / 3) and report.run_id is None
    assert report["exact_match"].confusion == [[1, 0], [1, 1]]
    with pytest.raises(ValueError, match="no traces to read human feedback from"):
        evals.agreement(result, labels="thumbs")
    with pytest.raises(ValueError, match=r"metric\(s\) faithfulness not scored here"):
        evals.agreement(result, labels="ok", metrics=["faithfulness"])
    rows[1]["answer"] = "Lyon not Paris"  # token F1 0.5: scores on a scale now
    f1 = evals.evaluate(rows, [evals.metrics.token_f1()], log_to_mlflow=False)
    with pytest.raises(ValueError, match="has no threshold: pass threshold="):
        evals.agreement(f1, labels="ok")  # pass/fail labels, scores on a scale
    assert evals.agreement(f1, labels="ok", threshold=0.5).accuracy == 1.0


def test_cli_agreement_mistakes_exit_2_with_one_line(store: str) -> None:
    result = evals.evaluate(
        [{"question": "q", "answer": "a", "expected": "a"}], [evals.metrics.exact_match()]
    )
    runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"})
    for args, message in [
        ([result.run_id, "--tracking-uri", store], "--feedback NAME or --column NAME"),
        ([result.run_id, "-f", "x", "--tracking-uri", store], "rows have no traces"),
        (["no-such-run", "-f", "x", "--tracking-uri", store], "no run with id or name"),
    ]:
        out = runner.invoke(app, ["eval", "agreement", *args])
        assert out.exit_code == 2, out.stdout
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
