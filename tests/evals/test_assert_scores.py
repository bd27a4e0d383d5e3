"""`evals.assert_scores`: the checks, and a failure message that names the failing rows."""

from __future__ import annotations

import re

import pytest

import evals
from evals import metrics

#: token F1 per row: 1, 1, 0.5 ("the red apple" vs "red pear"), 0 ⇒ mean 0.625
ROWS = [
    {"question": "Capital of France?", "answer": "Paris", "expected": "Paris"},
    {"question": "Capital of Germany?", "answer": "Berlin", "expected": "Berlin"},
    {"question": "What fruit?", "answer": "the red apple", "expected": "red pear"},
    {"question": "Sky colour?", "answer": "blue", "expected": "green"},
]


@pytest.fixture
def result() -> evals.EvaluationResult:
    return evals.evaluate(
        ROWS,
        [metrics.token_f1(), metrics.exact_match(threshold=1.0)],
        log_to_mlflow=False,
    )


def test_met_checks_pass(result: evals.EvaluationResult) -> None:
    evals.assert_scores(result, token_f1=0.6, exact_match=("pass_rate", 0.5))
    evals.assert_scores(result, {"token_f1": ("p50", 0.75)})


def test_a_missed_mean_lists_the_rows_below_it_lowest_first(
    result: evals.EvaluationResult,
) -> None:
    with pytest.raises(AssertionError) as caught:
        evals.assert_scores(result, token_f1=0.8, exact_match=("pass_rate", 0.5))
    message = str(caught.value)
    assert message.splitlines() == [
        "1 of 2 score checks failed on 4 rows:",
        "token_f1: mean 0.625, needs >= 0.8",
        "  rows below 0.8 or not scored (2), lowest first:",
        "    row 3  0  question='Sky colour?'  answer='blue'",
        "    row 2  0.5  question='What fruit?'  answer='the red apple'",
    ]


def test_pass_rate_counts_rows_under_the_metric_threshold(
    result: evals.EvaluationResult,
) -> None:
    with pytest.raises(AssertionError, match=re.escape("exact_match: pass_rate 0.5, needs >= 0.9")):
        evals.assert_scores(result, exact_match=("pass_rate", 0.9))
    with pytest.raises(ValueError, match="has no threshold, so it has no pass rate"):
        evals.assert_scores(result, token_f1=("pass_rate", 0.9))


def test_min_fails_on_any_row_below(result: evals.EvaluationResult) -> None:
    with pytest.raises(AssertionError, match=re.escape("token_f1: min 0, needs >= 0.1")):
        evals.assert_scores(result, token_f1=("min", 0.1))


def test_unscored_rows_fail_unless_allowed() -> None:
    @evals.metric(name="picky")
    def picky(answer: str) -> float:
        if answer == "blue":
            raise evals.MetricError("cannot judge colours")
        return 1.0

    result = evals.evaluate(ROWS, [picky], log_to_mlflow=False)
    with pytest.raises(AssertionError) as caught:
        evals.assert_scores(result, picky=0.9)
    message = str(caught.value)
    assert "picky: mean 1 >= 0.9, but 1 row(s) not scored" in message
    assert "row 3  error  question='Sky colour?'  answer='blue'  error: cannot judge colours" in (
        message
    )
    evals.assert_scores(result, picky=0.9, allow_errors=True)


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ({}, "needs at least one check"),
        ({"faithfulness": 0.5}, "'faithfulness' was not scored; scored: token_f1, exact_match"),
        ({"token_f1": ("average", 0.5)}, "STAT one of mean, p50, pass_rate, min"),
        ({"token_f1": "high"}, "give a number"),
    ],
)
def test_mistakes_are_value_errors(
    result: evals.EvaluationResult, checks: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        evals.assert_scores(result, checks)
