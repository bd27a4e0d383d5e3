"""Budget and concurrency limits of OpenAIJudge, sequential and from many threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from evals._types import BudgetExceeded
from llmtrace.openai import Price
from tests.evals import judge_api
from tests.evals.judge_api import InFlight, ask, completion, make_judge

api = judge_api.api  # fixtures
spans = judge_api.spans

pytestmark = pytest.mark.usefixtures("spans")

#: 1000 USD per 1M tokens: one token costs 0.001 USD, so budgets are easy to reason about.
DEAR = {"gpt-4o-mini": Price(input=1000.0, output=1000.0)}


def _reply(completion_tokens: int) -> Any:
    def reply(request: httpx.Request) -> httpx.Response:
        return completion(
            {"score": 3, "reason": "r"}, prompt_tokens=100, completion_tokens=completion_tokens
        )

    return reply


def _run(judge: Any, questions: list[str]) -> list[str]:
    """Ask each question; 'ok' or 'skipped' per question, in order."""
    outcome = []
    for q in questions:
        try:
            ask(judge, q)
            outcome.append("ok")
        except BudgetExceeded:
            outcome.append("skipped")
    return outcome


def test_budget_stops_new_calls_before_it_is_exceeded(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    api["chat"].side_effect = _reply(20)  # each call: 120 tokens = 0.12 USD
    judge = make_judge(tmp_path, prices=DEAR, budget_usd=1.0)
    questions = [f"question {i}" for i in range(10)]
    outcome = _run(judge, questions)

    made = outcome.count("ok")
    assert made >= 3 and "skipped" in outcome
    assert outcome == ["ok"] * made + ["skipped"] * (10 - made)  # once stopped, stays stopped
    assert api["chat"].call_count == made  # skipped calls never reached the API
    usage = judge.usage()
    assert usage["skipped_by_budget"] == 10 - made
    assert usage["cost_usd"] == pytest.approx(0.12 * made)
    assert usage["cost_usd"] <= 1.0

    assert _run(judge, questions[:made]) == ["ok"] * made  # cached replies cost nothing
    assert api["chat"].call_count == made
    judge.budget_usd = 5.0  # evaluate may raise the limit
    assert _run(judge, questions[made : made + 1]) == ["ok"]


def test_budget_holds_under_concurrency(api: respx.MockRouter, tmp_path: Path) -> None:
    # each call costs 0.4 USD: without reserving in-flight estimates, 8 threads that all see
    # "nothing spent yet" would spend 3.2 USD against a 1 USD budget
    api["chat"].side_effect = InFlight(_reply(300), delay=0.05)
    judge = make_judge(tmp_path, prices=DEAR, budget_usd=1.0, max_concurrency=8)
    with ThreadPoolExecutor(8) as pool:
        outcome = list(pool.map(lambda q: _run(judge, [q])[0], [f"q{i}" for i in range(16)]))

    usage = judge.usage()
    assert usage["cost_usd"] <= 1.0
    assert outcome.count("ok") == api["chat"].call_count >= 1
    assert usage["skipped_by_budget"] == outcome.count("skipped") > 0


def test_budget_counts_reasks(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = lambda request: completion("not json", completion_tokens=20)
    judge = make_judge(tmp_path, prices=DEAR, budget_usd=0.9, parse_retries=5)
    with pytest.raises(BudgetExceeded):
        ask(judge)
    assert judge.usage()["cost_usd"] <= 0.9
    assert judge.usage()["skipped_by_budget"] == 1
    assert api["chat"].call_count == judge.usage()["calls"] >= 1


@pytest.mark.parametrize("limit", [1, 3])
def test_concurrency_limit_is_respected_across_threads(
    api: respx.MockRouter, tmp_path: Path, limit: int
) -> None:
    side_effect = InFlight(_reply(5), delay=0.05)
    api["chat"].side_effect = side_effect
    judge = make_judge(tmp_path, max_concurrency=limit)
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda i: ask(judge, f"q{i}"), range(12)))
    assert api["chat"].call_count == 12
    assert side_effect.most == limit


def test_retry_waits_do_not_hold_a_slot(api: respx.MockRouter, tmp_path: Path) -> None:
    calls = {"n": 0}
    lock = threading.Lock()

    def first_call_rate_limited(request: httpx.Request) -> httpx.Response:
        with lock:
            calls["n"] += 1
            first = calls["n"] == 1
        if first:
            return httpx.Response(429, headers={"retry-after": "0.5"})
        return completion({"score": 1, "reason": "r"})

    api["chat"].side_effect = first_call_rate_limited
    judge = make_judge(tmp_path, max_concurrency=1)
    done: list[str] = []
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(lambda: (ask(judge, "slow"), done.append("slow")))
        threading.Event().wait(0.1)
        fast = pool.submit(lambda: (ask(judge, "fast"), done.append("fast")))
        slow.result(5)
        fast.result(5)
    assert done == ["fast", "slow"]  # the other call ran while the first waited out its 429
