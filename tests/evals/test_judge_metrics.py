"""Judge metrics on canned judge replies: each value is the Ragas formula on those verdicts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import respx

import evals
from evals._types import MetricError, Row, Score
from evals.judge import _prompts
from llmtrace.openai import get_price
from tests.evals import judge_api
from tests.evals.judge_api import completion, make_judge, prompt_id_of

api = judge_api.api  # fixtures
spans = judge_api.spans

pytestmark = pytest.mark.usefixtures("spans")

QUESTION = "What is the capital of France and how big is it?"
ANSWER = "Paris is the capital of France. It has about 2.1 million inhabitants. It is in Germany."
CONTEXTS = [
    "Paris is the capital and largest city of France.",
    "The city of Paris had an estimated 2.1 million residents in 2023.",
    "Berlin is the capital of Germany.",
]
REFERENCE = "Paris is the capital of France; about 2.1 million people live there."


def serve(api: respx.MockRouter, replies: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Answer each judge prompt (by id) with its canned reply; a list is replied in turn.

    Returns the request bodies received, by prompt id.
    """
    replies = copy.deepcopy(replies)
    seen: dict[str, list[dict[str, Any]]] = {}

    def side_effect(request: httpx.Request) -> httpx.Response:
        name = prompt_id_of(request)
        seen.setdefault(name, []).append(json.loads(request.content))
        reply = replies[name]
        if isinstance(reply, list):
            reply = reply.pop(0)
        return completion(reply, prompt_tokens=100, completion_tokens=20)

    api["chat"].side_effect = side_effect
    return seen


def _check_usage(score: Score, calls: int, asks: int | None = None) -> None:
    """Tokens and cost of ``calls`` API requests (100 + 20 tokens each) in ``asks`` asks."""
    price = get_price("gpt-4o-mini")
    assert price is not None
    assert score.details["judge_calls"] == (calls if asks is None else asks)
    assert (score.details["prompt_tokens"], score.details["completion_tokens"]) == (
        100 * calls,
        20 * calls,
    )
    expected = calls * (100 * price.input + 20 * price.output) / 1e6
    assert score.details["cost_usd"] == pytest.approx(expected)


def _user_prompt(request_body: dict[str, Any]) -> str:
    return request_body["messages"][-1]["content"]


# --- faithfulness -------------------------------------------------------------------------------

CLAIMS = [
    "Paris is the capital of France.",
    "Paris has about 2.1 million inhabitants.",
    "Paris is in Germany.",
    "Paris is a city.",
]


@pytest.mark.parametrize("verdicts", [[1, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]])
def test_faithfulness_is_supported_claims_over_claims(
    api: respx.MockRouter, tmp_path: Path, verdicts: list[int]
) -> None:
    seen = serve(
        api,
        {
            "faithfulness_claims": {"claims": CLAIMS},
            "faithfulness_verdicts": {
                "verdicts": [
                    {"statement": c, "reason": "r", "verdict": v}
                    for c, v in zip(CLAIMS, verdicts, strict=True)
                ]
            },
        },
    )
    row = Row(0, question=QUESTION, answer=ANSWER, contexts=CONTEXTS)
    score = evals.Faithfulness().score(row, make_judge(tmp_path))

    assert score.error is None
    assert score.value == pytest.approx(sum(verdicts) / len(CLAIMS))
    assert score.details["claims"] == CLAIMS
    assert score.details["judge_prompt_version"] == _prompts.FAITHFULNESS_VERDICTS.version
    _check_usage(score, calls=2)
    asked = seen["faithfulness_verdicts"][0]
    assert "[4] Paris is a city." in _user_prompt(asked)
    assert "[3] Berlin is the capital of Germany." in _user_prompt(asked)
    verdict_schema = asked["response_format"]["json_schema"]["schema"]["properties"]["verdicts"]
    assert verdict_schema["minItems"] == verdict_schema["maxItems"] == 4
    assert ANSWER in _user_prompt(seen["faithfulness_claims"][0])


def test_faithfulness_reasks_when_verdicts_do_not_match_the_claims(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    three = [{"reason": "r", "verdict": 1}] * 3
    four = [{"reason": "r", "verdict": v} for v in (1, 0, 0, 0)]
    serve(
        api,
        {
            "faithfulness_claims": {"claims": CLAIMS},
            "faithfulness_verdicts": [{"verdicts": three}, {"verdicts": four}],
        },
    )
    row = Row(0, question=QUESTION, answer=ANSWER, contexts=CONTEXTS)
    score = evals.Faithfulness().score(row, make_judge(tmp_path))
    assert score.value == pytest.approx(0.25)
    _check_usage(score, calls=3, asks=2)


def test_faithfulness_without_claims_or_contexts_is_undefined(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    serve(api, {"faithfulness_claims": {"claims": []}})
    judge = make_judge(tmp_path)
    metric = evals.Faithfulness()
    score = metric.score(Row(0, question="Hi", answer="Hello!", contexts=CONTEXTS), judge)
    assert score.value is None and "undefined" in (score.error or "")
    assert "no claims" in (score.error or "")
    assert api["chat"].call_count == 1

    score = metric.score(Row(1, question="Hi", answer="Paris.", contexts=[]), judge)
    assert score.value is None and "nothing retrieved" in (score.error or "")
    assert api["chat"].call_count == 1  # no judge call for an undefined score

    with pytest.raises(MetricError, match="contexts"):
        metric.score(Row(2, question="Hi", answer="Paris."), judge)
    with pytest.raises(MetricError, match="judge"):
        metric.score(Row(3, question="Hi", answer="Paris.", contexts=CONTEXTS), None)


def test_unparseable_judge_reply_is_an_error_with_the_raw_reply(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    api["chat"].side_effect = lambda request: completion("I think it is fine.")
    row = Row(0, question=QUESTION, answer=ANSWER, contexts=CONTEXTS)
    score = evals.Faithfulness().score(row, make_judge(tmp_path, parse_retries=1))
    assert score.value is None
    assert "unusable judge reply" in (score.error or "")
    assert score.details["raw_reply"] == "I think it is fine."
    assert score.details["prompt_tokens"] == 200  # both attempts are accounted for
    assert score.details["judge_prompt_version"] == evals.Faithfulness.version


# --- answer relevancy ---------------------------------------------------------------------------

GENERATED = ["What is the capital of France?", "How many people live in Paris?", "Where is it?"]
VECTORS = {
    QUESTION: [1.0, 0.0, 0.0],
    GENERATED[0]: [1.0, 0.0, 0.0],
    GENERATED[1]: [0.6, 0.8, 0.0],
    GENERATED[2]: [0.0, 2.0, 1.0],
}


def _embeddings(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    data = [
        {"object": "embedding", "index": i, "embedding": VECTORS[t]} for i, t in enumerate(inputs)
    ]
    return httpx.Response(
        200,
        json={
            "object": "list",
            "model": "text-embedding-3-small",
            "data": data,
            "usage": {"prompt_tokens": 30, "total_tokens": 30},
        },
    )


@pytest.mark.parametrize("noncommittal", [0, 1])
def test_answer_relevancy_is_mean_cosine_times_committal(
    api: respx.MockRouter, tmp_path: Path, noncommittal: int
) -> None:
    serve(
        api,
        {"answer_relevancy_questions": {"questions": GENERATED, "noncommittal": noncommittal}},
    )
    api["embeddings"].side_effect = _embeddings
    row = Row(0, question=QUESTION, answer=ANSWER)
    score = evals.AnswerRelevancy(n=3).score(row, make_judge(tmp_path))

    q = np.array(VECTORS[QUESTION])
    g = np.array([VECTORS[t] for t in GENERATED])
    cosine = g @ q / (np.linalg.norm(g, axis=1) * np.linalg.norm(q))
    assert score.details["similarities"] == pytest.approx(list(cosine))
    assert score.value == pytest.approx(cosine.mean() * (1 - noncommittal))
    assert score.details["noncommittal"] is bool(noncommittal)
    assert api["embeddings"].call_count == 1
    _check_usage(score, calls=1)


def test_answer_relevancy_takes_your_embeddings(api: respx.MockRouter, tmp_path: Path) -> None:
    serve(api, {"answer_relevancy_questions": {"questions": GENERATED[:2], "noncommittal": 0}})
    metric = evals.AnswerRelevancy(n=2, embed=lambda texts: [VECTORS[t] for t in texts])
    score = metric.score(Row(0, question=QUESTION, answer=ANSWER), make_judge(tmp_path))
    assert score.value == pytest.approx((1.0 + 0.6) / 2)
    assert api["embeddings"].call_count == 0


# --- context precision --------------------------------------------------------------------------


def _average_precision(verdicts: list[int]) -> float:
    v = np.array(verdicts, dtype=float)
    precision_at_k = np.cumsum(v) / np.arange(1, len(v) + 1)
    return float((precision_at_k * v).sum() / (v.sum() + 1e-10))  # Ragas' formula


@pytest.mark.parametrize("verdicts", [[1, 0, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 0], [1] * 5])
def test_context_precision_is_average_precision_of_the_verdicts(
    api: respx.MockRouter, tmp_path: Path, verdicts: list[int]
) -> None:
    contexts = [f"context {i}" for i in range(5)]
    seen = serve(
        api,
        {
            "context_precision_verdicts": {
                "verdicts": [{"reason": "r", "verdict": v} for v in verdicts]
            }
        },
    )
    row = Row(0, question=QUESTION, expected=REFERENCE, contexts=contexts)
    score = evals.ContextPrecision().score(row, make_judge(tmp_path))
    assert score.error is None
    assert score.value == pytest.approx(_average_precision(verdicts), abs=1e-9)
    assert REFERENCE in _user_prompt(seen["context_precision_verdicts"][0])
    _check_usage(score, calls=1)


def test_context_precision_with_nothing_retrieved_is_undefined(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    row = Row(0, question=QUESTION, expected=REFERENCE, contexts=[])
    score = evals.ContextPrecision().score(row, make_judge(tmp_path))
    assert score.value is None and "undefined" in (score.error or "")
    with pytest.raises(MetricError, match="expected"):
        evals.ContextPrecision().score(
            Row(1, question=QUESTION, contexts=CONTEXTS), make_judge(tmp_path)
        )
    assert api["chat"].call_count == 0


# --- context recall -----------------------------------------------------------------------------


@pytest.mark.parametrize("attributed", [[1, 0, 1, 1], [0, 0], [1]])
def test_context_recall_is_attributed_claims_over_claims(
    api: respx.MockRouter, tmp_path: Path, attributed: list[int]
) -> None:
    claims = [
        {"statement": f"claim {i}", "reason": "r", "attributed": a}
        for i, a in enumerate(attributed)
    ]
    serve(api, {"context_recall_attributions": {"claims": claims}})
    row = Row(0, question=QUESTION, expected=REFERENCE, contexts=CONTEXTS)
    score = evals.ContextRecall().score(row, make_judge(tmp_path))
    assert score.value == pytest.approx(sum(attributed) / len(attributed))
    _check_usage(score, calls=1)


def test_context_recall_edge_cases(api: respx.MockRouter, tmp_path: Path) -> None:
    serve(api, {"context_recall_attributions": {"claims": []}})
    judge = make_judge(tmp_path)
    score = evals.ContextRecall().score(Row(0, expected="Hm.", contexts=CONTEXTS), judge)
    assert score.value is None and "undefined" in (score.error or "")
    score = evals.ContextRecall().score(Row(1, expected=REFERENCE, contexts=[]), judge)
    assert score.value == 0.0 and "nothing retrieved" in (score.reason or "")
    assert api["chat"].call_count == 1


# --- task completion ----------------------------------------------------------------------------


@pytest.mark.parametrize("judged", [1, 4, 5])
def test_task_completion_normalises_the_rubric_score(
    api: respx.MockRouter, tmp_path: Path, judged: int
) -> None:
    seen = serve(api, {"task_completion": {"reason": "booked, no email", "score": judged}})
    calls = [{"name": "book_flight", "arguments": {"to": "Paris"}}]
    row = Row(0, question="Book me a flight to Paris", answer="Booked AF123.", tool_calls=calls)
    score = evals.TaskCompletion().score(row, make_judge(tmp_path))
    assert score.value == pytest.approx((judged - 1) / 4)
    assert score.reason == "booked, no email"
    assert "book_flight" in _user_prompt(seen["task_completion"][0])
    _check_usage(score, calls=1)


# --- criteria (G-Eval-like) ---------------------------------------------------------------------


def test_criteria_writes_steps_once_then_scores_each_row(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    seen = serve(
        api,
        {
            "criteria_steps": {"steps": ["Read the answer.", "Look for filler."]},
            "criteria_score": [
                {"reason": "some filler", "score": 7},  # off the scale: re-asked
                {"reason": "some filler", "score": 4},
                {"reason": "rambling", "score": 1},
            ],
        },
    )
    concise = evals.criteria(
        "conciseness",
        "The answer responds to the question without filler.",
        rubric={1: "rambling", 3: "some filler", 5: "no filler at all"},
        threshold=0.75,
    )
    judge = make_judge(tmp_path)
    first = concise.score(Row(0, question="2+2?", answer="Well, so, 4."), judge)
    second = concise.score(Row(1, question="2+2?", answer="Let me think... 4."), judge)

    assert (first.value, first.reason) == (pytest.approx((4 - 1) / (5 - 1)), "some filler")
    assert second.value == 0.0
    assert concise.threshold == 0.75 and concise.name == "conciseness"
    assert len(seen["criteria_steps"]) == 1  # steps written once for the judge model
    assert len(seen["criteria_score"]) == 3
    prompt = _user_prompt(seen["criteria_score"][0])
    assert "[2] Look for filler." in prompt and "3 - some filler" in prompt
    assert "Well, so, 4." in prompt
    _check_usage(first, calls=3, asks=2)  # steps + the invalid reply + the valid one
    _check_usage(second, calls=1)
    assert first.details["judge_score"] == 4


def test_criteria_with_your_steps_and_inputs(api: respx.MockRouter, tmp_path: Path) -> None:
    seen = serve(api, {"criteria_score": {"reason": "grounded", "score": 3}})
    metric = evals.criteria(
        "grounded",
        "Every statement of the answer is backed by the context.",
        evaluation_steps=["Compare each sentence with the context."],
        inputs=("answer", "contexts"),
        scale=(0, 3),
    )
    score = metric.score(Row(0, answer="Paris.", contexts=CONTEXTS), make_judge(tmp_path))
    assert score.value == 1.0
    assert "criteria_steps" not in seen
    assert "[2] The city of Paris" in _user_prompt(seen["criteria_score"][0])
    with pytest.raises(MetricError, match="contexts"):
        metric.score(Row(1, answer="Paris."), make_judge(tmp_path))
    with pytest.raises(ValueError):
        evals.criteria("empty", "  ")
