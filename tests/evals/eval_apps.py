"""A tiny traced RAG app, a test-double judge and a judge metric for the evaluation tests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import evals
import llmtrace
from evals import BudgetExceeded, JudgeReply, Score

DOCS = {
    "paris": "Paris is the capital of France.",
    "eiffel": "The Eiffel Tower is 330 metres tall.",
    "cats": "Cats sleep for most of the day.",
}


@llmtrace.trace(kind="RETRIEVER")
def retrieve(question: str) -> list[dict[str, Any]]:
    words = {w.strip("?.").lower() for w in question.split()}
    hits = [
        {"id": doc_id, "content": text, "score": 1.0}
        for doc_id, text in DOCS.items()
        if words & {w.strip(".").lower() for w in text.split()} - {"the", "is", "of"}
    ]
    return hits


@llmtrace.trace(kind="TOOL")
def lookup(city: str, field: str = "population") -> str:
    return f"{city} {field}: 2.1M"


@llmtrace.trace(kind="CHAIN")
def rag(question: str) -> str:
    docs = retrieve(question)
    if "population" in question.lower():
        return lookup(city="Paris", field="population")
    with llmtrace.span("generate", kind="LLM") as span:
        span.set_attributes({"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 5})
        answer = docs[0]["content"] if docs else "I don't know."
        span.set_outputs(answer)
    return answer


QUESTIONS = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("How tall is the Eiffel Tower?", "The Eiffel Tower is 324 metres tall."),
    ("What is the population of Paris?", "2.1M"),
]


def make_traces() -> list[str]:
    """Run the app on QUESTIONS; return the trace ids (flushed, stored)."""
    ids = []
    for question, _ in QUESTIONS:
        with llmtrace.span("ask", kind="CHAIN") as root:
            root.set_inputs({"question": question})
            answer = rag(question)
            root.set_outputs(answer)
            ids.append(root.trace_id)
    assert llmtrace.flush(30)
    return ids


DATA = [
    {"question": "Capital of France?", "answer": "Paris", "expected": "Paris"},
    {"question": "Capital of Italy?", "answer": "Rome is the capital", "expected": "Rome"},
    {"question": "Capital of Spain?", "answer": "Lisbon", "expected": "Madrid"},
]


class TinyJudge:
    """A test double of the `evals.Judge` protocol: says yes when the answer has the expected
    text, costs $0.01 a call, counts calls and how many ran at once."""

    model = "tiny-judge"

    def __init__(self, delay: float = 0.0, raise_budget_after: int | None = None) -> None:
        self.delay = delay
        self.raise_budget_after = raise_budget_after
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.cache_enabled = True
        self.budget_usd: float | None = None
        self.settings_seen: tuple[bool, float | None] | None = None
        self._lock = threading.Lock()

    def ask(
        self,
        *,
        prompt_id: str,
        prompt_version: str,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
    ) -> JudgeReply:
        with self._lock:
            if self.raise_budget_after is not None and self.calls >= self.raise_budget_after:
                raise BudgetExceeded(f"next call would exceed ${self.budget_usd}")
            self.calls += 1
            self.settings_seen = (self.cache_enabled, self.budget_usd)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            verdict = json.loads(messages[-1]["content"])
            yes = verdict["expected"].lower() in verdict["answer"].lower()
            return JudgeReply(
                data={"score": int(yes)},
                raw=json.dumps({"score": int(yes)}),
                prompt_tokens=10,
                completion_tokens=2,
                cost_usd=0.01,
            )
        finally:
            with self._lock:
                self.in_flight -= 1

    def usage(self) -> dict[str, Any]:
        return {"calls": self.calls, "cost_usd": round(self.calls * 0.01, 10), "model": self.model}


@evals.metric(name="judged_correct", threshold=1.0, version="2")
def judged_correct(answer: str, expected: str, judge: Any) -> Score:
    reply = judge.ask(
        prompt_id="correct",
        prompt_version="3",
        messages=[
            {"role": "user", "content": json.dumps({"answer": answer, "expected": expected})}
        ],
        schema={"type": "object"},
    )
    return Score(
        float(reply.data["score"]), reason="judge says so", details={"judge_prompt_version": "3"}
    )
