"""Judge replies by word overlap: deterministic answers to llmtrace's judge prompts.

`judge_reply` reads a judge prompt of `evals` (faithfulness, answer relevancy, context
precision and recall, criteria, task completion) and answers with JSON that fits the
``response_format`` schema sent: a claim is "supported" when most of its words occur in the
context, and so on. It is not a model; it makes eval pipelines runnable offline and their
scores reproducible. Unknown prompts get the smallest reply their schema accepts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._replies import conversation
from ._words import sentences, support, words

NONCOMMITTAL = re.compile(r"\b(don'?t know|not sure|cannot (?:say|answer)|no information)\b", re.I)


def _section(prompt: str, label: str, end: str = "\n\n") -> str:
    """The text after ``label`` up to ``end`` (or the end of the prompt)."""
    start = prompt.find(label)
    if start < 0:
        return ""
    start += len(label)
    stop = prompt.find(end, start)
    return prompt[start : stop if stop >= 0 else len(prompt)].strip()


def _numbered(block: str) -> list[str]:
    """Items of a ``[1] ...`` list."""
    return [m.strip() for m in re.split(r"^\[\d+\]\s*", block, flags=re.M) if m.strip()]


def _count(schema: dict[str, Any], key: str, default: int) -> int:
    """How many items the schema wants under ``key`` (its minItems), else ``default``."""
    item = schema.get("properties", {}).get(key, {})
    return int(item.get("minItems", default)) if "maxItems" in item else default


def _fit(items: list[Any], n: int, filler: Callable[[int], Any]) -> list[Any]:
    return (items + [filler(i) for i in range(len(items), n)])[:n]


def _pct(share: float) -> str:
    return f"{round(100 * share)}% of its words occur there"


def _judge_data(prompt_id: str, prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
    if prompt_id == "faithfulness_claims":
        answer = _section(prompt, "Answer:")
        return {"claims": [] if NONCOMMITTAL.search(answer) else sentences(answer)}
    if prompt_id == "faithfulness_verdicts":
        context = _section(prompt, "Context:\n", "\n\nStatements:")
        claims = _numbered(_section(prompt, "Statements:\n"))
        claims = _fit(claims, _count(schema, "verdicts", len(claims)), lambda i: f"claim {i + 1}")
        return {
            "verdicts": [
                {
                    "statement": c,
                    "reason": f"stand-in: {_pct(support(c, context))} in the context",
                    "verdict": int(support(c, context) >= 0.75),
                }
                for c in claims
            ]
        }
    if prompt_id == "answer_relevancy_questions":
        answer = _section(prompt, "Answer:")
        n = _count(schema, "questions", 3)
        terms = words(answer) or ["anything"]
        questions = [
            "What about " + " ".join(t for j, t in enumerate(terms) if j != i % len(terms)) + "?"
            for i in range(n)
        ]
        return {"questions": questions, "noncommittal": int(bool(NONCOMMITTAL.search(answer)))}
    if prompt_id == "context_precision_verdicts":
        reference = _section(prompt, "Reference answer:")
        contexts = _numbered(_section(prompt, "Retrieved contexts:\n"))
        contexts = _fit(contexts, _count(schema, "verdicts", len(contexts)), lambda i: "")
        return {
            "verdicts": [
                {
                    "reason": f"stand-in: the context holds {_pct(support(reference, c))[4:]}",
                    "verdict": int(support(reference, c) >= 0.5),
                }
                for c in contexts
            ]
        }
    if prompt_id == "context_recall_attributions":
        context = _section(prompt, "Retrieved context:\n", "\n\nReference answer:")
        return {
            "claims": [
                {
                    "statement": s,
                    "reason": f"stand-in: {_pct(support(s, context))} in the context",
                    "attributed": int(support(s, context) >= 0.75),
                }
                for s in sentences(_section(prompt, "Reference answer:"))
            ]
        }
    if prompt_id == "criteria_steps":
        return {
            "steps": [
                "Read the criteria.",
                "Check each statement of the response against the material shown.",
                "Pick the rubric score that fits; explain it in one sentence.",
            ]
        }
    if prompt_id in ("criteria_score", "task_completion"):
        score = schema.get("properties", {}).get("score", {})
        low, high = int(score.get("minimum", 1)), int(score.get("maximum", 5))
        response = _section(prompt, "Response:\n") or _section(prompt, "Agent's final output:")
        source = (
            _section(prompt, "Retrieved context:\n")
            or _section(prompt, "Expected outcome (may be empty):")
            or _section(prompt, "Input:\n")
            or _section(prompt, "Task:")
        )
        share = support(response, source)
        return {
            "reason": f"stand-in: {_pct(share)} in the material shown",
            "score": low + round(share * (high - low)),
        }
    return _smallest(schema)


def _smallest(schema: dict[str, Any]) -> Any:
    """The smallest value ``schema`` accepts (objects with their required keys only)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _smallest(props.get(k, {})) for k in schema.get("required", [])}
    if kind == "array":
        return [_smallest(schema.get("items", {})) for _ in range(int(schema.get("minItems", 0)))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return "stand-in"


def _prompt_and_schema(body: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The judge prompt's id (the schema's name), its first user message and its JSON schema."""
    if "messages" in body:
        spec = (body.get("response_format") or {}).get("json_schema") or {}
    else:  # Responses API: text.format = {"type": "json_schema", "name", "schema"}
        spec = (body.get("text") or {}).get("format") or {}
    users = [m["content"] for m in conversation(body) if m["role"] == "user"]
    schema = spec.get("schema") or {"type": "object"}
    return str(spec.get("name", "")), users[0] if users else "", schema


def judge_reply(body: dict[str, Any]) -> str:
    """The JSON text answering one of llmtrace's judge prompts, by word overlap (not a model).

    Args:
        body: a chat-completions (or Responses API) request of `evals.OpenAIJudge`.

    Returns:
        JSON matching the request's ``response_format`` schema: claims are the answer's
        sentences, a verdict is 1 when most of the statement's words occur in the context, a
        criteria score grows with that share of words; unknown prompts get the smallest value
        their schema accepts.

    Example:
        >>> from llmtrace.testing import StandIn, judge_reply
        >>> with StandIn(judge_reply) as server:
        ...     judge = evals.OpenAIJudge("local-stand-in", base_url=server.url)
        ...     evals.evaluate(rows, [evals.Faithfulness()], judge=judge)
    """
    prompt_id, prompt, schema = _prompt_and_schema(body)
    return json.dumps(_judge_data(prompt_id, prompt, schema))
