"""Judge metrics: RAG (Ragas formulas), agent task completion, and criteria (G-Eval-like).

Each is a small frozen dataclass; ``score(row, judge)`` asks the judge through `Judge.ask` and
computes the value from the judge's verdicts, so the formula is plain code you can check.
Every score's ``details`` hold the judge prompt version, tokens, cost and the judge's verdicts;
a reply that stays unparseable gives ``Score(None, error=...)`` with the raw reply, never NaN.
Where a formula is undefined (no claims, nothing retrieved) the score says so in ``error``.

Example:
    >>> judge = evals.OpenAIJudge("gpt-4o-mini")
    >>> evals.Faithfulness().score(Row(0, question=q, answer=a, contexts=docs), judge)
    Score(value=0.5, reason='1 of 2 claims supported by the contexts', ...)
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from .._types import Judge, JudgeParseError, JudgeReply, Metric, MetricError, Row, Score
from . import _prompts as p

__all__ = [
    "AnswerRelevancy",
    "ContextPrecision",
    "ContextRecall",
    "Criteria",
    "Faithfulness",
    "TaskCompletion",
    "criteria",
]

Embed = Callable[[list[str]], list[list[float]]]


class _Tally:
    """Tokens, cost and calls of the judge replies behind one score."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd: float | None = 0.0
        self.calls = 0
        self.cached = 0

    def add(self, tokens_in: int, tokens_out: int, cost: float | None, cached: bool) -> None:
        self.prompt_tokens += tokens_in
        self.completion_tokens += tokens_out
        self.cost_usd = None if self.cost_usd is None or cost is None else self.cost_usd + cost
        self.calls += 1
        self.cached += int(cached)

    def details(self, version: str) -> dict[str, Any]:
        return {
            "judge_prompt_version": version,
            "judge_calls": self.calls,
            "judge_cached_calls": self.cached,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 10),
        }


def _ask(
    judge: Judge,
    prompt: p.JudgePrompt,
    tally: _Tally,
    schema: dict[str, Any] | None = None,
    **values: Any,
) -> dict[str, Any]:
    reply: JudgeReply = judge.ask(
        prompt_id=prompt.id,
        prompt_version=prompt.version,
        messages=prompt.messages(**values),
        schema=schema or prompt.schema,
    )
    tally.add(reply.prompt_tokens, reply.completion_tokens, reply.cost_usd, reply.cached)
    return reply.data


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _field(metric: Metric, row: Row, name: str) -> Any:
    """``row.<name>``, or a `MetricError` naming the missing column."""
    value = getattr(row, name)
    if value is None:
        raise MetricError(f"{metric.name} needs `{name}`, which row {row.index} does not have")
    return value


class _JudgeMetric(Metric):
    """Shared `score`: checks the judge, sums usage, turns a parse failure into an error."""

    needs_judge: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ()
    """Row fields the metric needs (checked before any judge call)."""

    def _score(self, row: Row, judge: Judge, tally: _Tally) -> Score:
        raise NotImplementedError

    def score(self, row: Row, judge: Judge | None = None) -> Score:
        """Score ``row`` with ``judge``; see the class docstring for the formula."""
        if judge is None:
            raise MetricError(f"{self.name} is a judge metric: pass judge=OpenAIJudge(...)")
        for name in self.requires:
            _field(self, row, name)
        tally = _Tally()
        try:
            result = self._score(row, judge, tally)
        except JudgeParseError as exc:
            tally.add(exc.prompt_tokens, exc.completion_tokens, exc.cost_usd, False)
            details = {**tally.details(self.version), "raw_reply": exc.raw}
            return Score(None, error=f"unusable judge reply: {exc}", details=details)
        return replace(result, details={**tally.details(self.version), **result.details})


def _contexts(metric: Metric, row: Row) -> list[str]:
    return [_text(c) for c in _field(metric, row, "contexts")]


@dataclass(frozen=True, repr=False)
class Faithfulness(_JudgeMetric):
    """Share of the answer's claims supported by the retrieved contexts (Ragas faithfulness).

    The judge lists the answer's claims, then gives each a verdict (1 supported, 0 not) against
    the contexts; value = supported claims / claims. No claims, or nothing retrieved, ⇒ error
    (undefined).

    Example:
        >>> Faithfulness().score(Row(0, question=q, answer=a, contexts=docs), judge).value
        0.5
    """

    name: str = "faithfulness"
    threshold: float | None = 0.5
    version: ClassVar[str] = p.FAITHFULNESS_VERDICTS.version
    requires: ClassVar[tuple[str, ...]] = ("answer", "contexts")

    def _score(self, row: Row, judge: Judge, tally: _Tally) -> Score:
        contexts = _contexts(self, row)
        if not contexts:
            return Score(None, error="nothing retrieved: faithfulness is undefined")
        question = "" if row.question is None else _text(row.question)
        data = _ask(
            judge, p.FAITHFULNESS_CLAIMS, tally, question=question, answer=_text(row.answer)
        )
        claims = [c.strip() for c in data["claims"] if c.strip()]
        if not claims:
            return Score(
                None,
                error="no claims in the answer: faithfulness is undefined",
                details={"claims": []},
            )
        data = _ask(
            judge,
            p.FAITHFULNESS_VERDICTS,
            tally,
            p.faithfulness_verdicts_schema(len(claims)),
            contexts=p.numbered(contexts),
            statements=p.numbered(claims),
        )
        verdicts = [int(v["verdict"]) for v in data["verdicts"]]
        supported = sum(verdicts)
        unsupported = [c for c, v in zip(claims, verdicts, strict=True) if not v]
        reason = f"{supported} of {len(claims)} claims supported by the contexts"
        if unsupported:
            reason += "; unsupported: " + "; ".join(unsupported[:3])
        return Score(
            supported / len(claims),
            reason=reason,
            details={"claims": claims, "verdicts": data["verdicts"]},
        )


def _cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0.0:
        return None
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm


@dataclass(frozen=True, repr=False)
class AnswerRelevancy(_JudgeMetric):
    """How well the answer addresses the question (Ragas answer relevancy).

    The judge writes ``n`` questions the answer would answer and flags a noncommittal answer;
    value = mean cosine similarity between the embeddings of the question and of each
    generated question, times 0 when the answer is noncommittal. Embeddings come from ``embed`` if
    given, else the judge's ``embed`` (`OpenAIJudge.embed`, cached).

    Example:
        >>> AnswerRelevancy(n=3).score(Row(0, question=q, answer=a), judge).value
        0.91
    """

    name: str = "answer_relevancy"
    threshold: float | None = 0.5
    n: int = 3
    embed: Embed | None = field(default=None, compare=False)
    version: ClassVar[str] = p.ANSWER_RELEVANCY.version
    requires: ClassVar[tuple[str, ...]] = ("question", "answer")

    def _score(self, row: Row, judge: Judge, tally: _Tally) -> Score:
        embed: Embed | None = self.embed or getattr(judge, "embed", None)
        if embed is None:
            raise MetricError(
                f"{self.name} needs embeddings: a judge with embed() (OpenAIJudge) or embed=..."
            )
        data = _ask(
            judge,
            p.ANSWER_RELEVANCY,
            tally,
            p.answer_relevancy_schema(self.n),
            n=self.n,
            answer=_text(row.answer),
        )
        questions = [str(q) for q in data["questions"]]
        noncommittal = bool(data["noncommittal"])
        vectors = embed([_text(row.question), *questions])
        similarities = [_cosine(vectors[0], v) for v in vectors[1:]]
        details = {"generated_questions": questions, "noncommittal": noncommittal}
        if any(s is None for s in similarities) or not similarities:
            return Score(
                None, error="zero embedding vector: cosine similarity is undefined", details=details
            )
        sims = [s for s in similarities if s is not None]
        details["similarities"] = sims
        mean = sum(sims) / len(sims)
        if noncommittal:
            return Score(0.0, reason="noncommittal answer", details=details)
        reason = f"mean cosine similarity {mean:.3f} of {len(sims)} questions the answer answers"
        return Score(mean, reason=reason, details=details)


def _average_precision(verdicts: list[int]) -> float:
    """Ragas: Σ_k (precision@k * v_k) / (number of useful contexts); 0 when none is useful."""
    useful = sum(verdicts)
    if useful == 0:
        return 0.0
    total = sum(sum(verdicts[: k + 1]) / (k + 1) * v for k, v in enumerate(verdicts))
    return total / useful


@dataclass(frozen=True, repr=False)
class ContextPrecision(_JudgeMetric):
    """Are the useful contexts ranked first? (Ragas LLM context precision with reference.)

    The judge marks each retrieved context useful (1) or not (0) for reaching the reference
    answer (``expected``); value = average precision over the ranking. Nothing retrieved ⇒
    error (undefined); nothing useful ⇒ 0.

    Example:
        >>> ContextPrecision().score(Row(0, question=q, expected=ref, contexts=docs), judge)
        Score(value=0.8333333333, reason='2 of 3 contexts useful; average precision 0.833', ...)
    """

    name: str = "context_precision"
    threshold: float | None = 0.5
    version: ClassVar[str] = p.CONTEXT_PRECISION.version
    requires: ClassVar[tuple[str, ...]] = ("question", "expected", "contexts")

    def _score(self, row: Row, judge: Judge, tally: _Tally) -> Score:
        contexts = _contexts(self, row)
        if not contexts:
            return Score(None, error="nothing retrieved: context precision is undefined")
        data = _ask(
            judge,
            p.CONTEXT_PRECISION,
            tally,
            p.context_precision_schema(len(contexts)),
            question=_text(row.question),
            reference=_text(row.expected),
            contexts=p.numbered(contexts),
        )
        verdicts = [int(v["verdict"]) for v in data["verdicts"]]
        value = _average_precision(verdicts)
        reason = (
            f"{sum(verdicts)} of {len(verdicts)} contexts useful; average precision {value:.3f}"
        )
        return Score(value, reason=reason, details={"verdicts": data["verdicts"]})


@dataclass(frozen=True, repr=False)
class ContextRecall(_JudgeMetric):
    """Share of the reference's claims the retrieved contexts support (Ragas LLM context recall).

    The judge splits the reference (``expected``) into claims and marks each attributable (1)
    to the contexts or not (0); value = attributed / claims. A reference without claims ⇒
    error (undefined); nothing retrieved ⇒ 0 (no claim can be attributed; no judge call).

    Example:
        >>> ContextRecall().score(Row(0, question=q, expected=ref, contexts=docs), judge).value
        0.75
    """

    name: str = "context_recall"
    threshold: float | None = 0.5
    version: ClassVar[str] = p.CONTEXT_RECALL.version
    requires: ClassVar[tuple[str, ...]] = ("expected", "contexts")

    def _score(self, row: Row, judge: Judge, tally: _Tally) -> Score:
        contexts = _contexts(self, row)
        reference = _text(row.expected)
        if not reference.strip():
            return Score(None, error="empty reference: context recall is undefined")
        if not contexts:
            return Score(0.0, reason="nothing retrieved: no claim of the reference is supported")
        data = _ask(
            judge,
            p.CONTEXT_RECALL,
            tally,
            question="" if row.question is None else _text(row.question),
            contexts=p.numbered(contexts),
            reference=reference,
        )
        claims = data["claims"]
        if not claims:
            return Score(
                None,
                error="no claims in the reference: context recall is undefined",
                details={"claims": []},
            )
        attributed = sum(int(c["attributed"]) for c in claims)
        reason = f"{attributed} of {len(claims)} reference claims supported by the contexts"
        return Score(attributed / len(claims), reason=reason, details={"claims": claims})


@dataclass(frozen=True, repr=False)
class TaskCompletion(_JudgeMetric):
    """Did the agent do what was asked? A rubric judge over the task, its steps and its output.

    The judge scores 1-5 against a fixed rubric (5 fully completed … 1 not completed), given
    the task (``question``), the tool calls (``tool_calls``, if any), the final output
    (``answer``) and the expected outcome (``expected``, if any); value = (score - 1) / 4.

    Example:
        >>> TaskCompletion().score(Row(0, question=task, answer=out, tool_calls=calls), judge)
        Score(value=0.75, reason='Booked the flight but did not send the confirmation.', ...)
    """

    name: str = "task_completion"
    threshold: float | None = 0.5
    version: ClassVar[str] = p.TASK_COMPLETION.version
    requires: ClassVar[tuple[str, ...]] = ("question", "answer")

    def _score(self, row: Row, judge: Judge, tally: _Tally) -> Score:
        calls = row.tool_calls or []
        steps = p.numbered([_text(c) for c in calls]) if calls else "(no tool calls)"
        data = _ask(
            judge,
            p.TASK_COMPLETION,
            tally,
            task=_text(row.question),
            steps=steps,
            output=_text(row.answer),
            expected="" if row.expected is None else _text(row.expected),
        )
        score = int(data["score"])
        return Score((score - 1) / 4, reason=data["reason"], details={"judge_score": score})


_FIELD_LABELS = {
    "question": "Input",
    "answer": "Response",
    "expected": "Expected response",
    "contexts": "Retrieved context",
    "tool_calls": "Tool calls",
}


@dataclass(frozen=True, repr=False, eq=False)
class Criteria(_JudgeMetric):
    """A judge metric from natural-language criteria and a rubric (G-Eval-like); use `criteria`.

    The judge first writes evaluation steps for the criteria (once per judge model, unless
    ``evaluation_steps`` are given), then scores each row on the rubric's integer scale with
    a reason; value = (score - low) / (high - low).

    Example:
        >>> polite = Criteria(name="politeness", criteria="The reply is courteous.")
        >>> polite.score(Row(0, question="Refund?", answer="No."), judge).value
        0.25
    """

    name: str = "criteria"
    criteria: str = ""
    rubric: str | Mapping[int, str] | None = None
    threshold: float | None = 0.5
    inputs: tuple[str, ...] = ("question", "answer")
    evaluation_steps: tuple[str, ...] | None = None
    scale: tuple[int, int] = (1, 5)
    _steps: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _lock: Any = field(default_factory=threading.Lock, init=False, repr=False)
    version: ClassVar[str] = p.CRITERIA_SCORE.version

    def __post_init__(self) -> None:
        if not self.criteria.strip():
            raise ValueError("criteria() needs the criteria, in plain words")
        unknown = [f for f in self.inputs if f not in _FIELD_LABELS]
        if unknown or not self.inputs:
            raise ValueError(f"inputs must be among {sorted(_FIELD_LABELS)}, got {self.inputs}")
        low, high = self.scale
        if isinstance(self.rubric, Mapping) and self.rubric:
            low, high = min(self.rubric), max(self.rubric)
            object.__setattr__(self, "scale", (int(low), int(high)))
        if not high > low:
            raise ValueError(f"the scale needs low < high, got {self.scale}")

    @property
    def requires(self) -> tuple[str, ...]:  # type: ignore[override]
        """The row fields named in ``inputs``."""
        return self.inputs

    def _rubric_text(self) -> str:
        low, high = self.scale
        if self.rubric is None:
            return f"{low} = does not meet the criteria at all … {high} = fully meets them"
        if isinstance(self.rubric, str):
            return self.rubric
        return "\n".join(f"{k} - {v}" for k, v in sorted(self.rubric.items()))

    def _evaluation_steps(self, judge: Judge, tally: _Tally) -> list[str]:
        if self.evaluation_steps:
            return list(self.evaluation_steps)
        with self._lock:  # one steps call per judge model, however many threads ask
            steps = self._steps.get(judge.model)
            if steps is None:
                data = _ask(judge, p.CRITERIA_STEPS, tally, name=self.name, criteria=self.criteria)
                steps = self._steps[judge.model] = [str(s) for s in data["steps"]]
        return steps

    def _score(self, row: Row, judge: Judge, tally: _Tally) -> Score:
        steps = self._evaluation_steps(judge, tally)
        fields = []
        for name in self.inputs:
            value = getattr(row, name)
            shown = (
                p.numbered([_text(v) for v in value]) if isinstance(value, list) else _text(value)
            )
            fields.append(f"{_FIELD_LABELS[name]}:\n{shown}")
        low, high = self.scale
        data = _ask(
            judge,
            p.CRITERIA_SCORE,
            tally,
            p.criteria_score_schema(low, high),
            name=self.name,
            criteria=self.criteria,
            steps=p.numbered(steps),
            rubric=self._rubric_text(),
            fields="\n\n".join(fields),
            low=low,
            high=high,
        )
        score = int(data["score"])
        return Score(
            (score - low) / (high - low),
            reason=data["reason"],
            details={"judge_score": score, "scale": [low, high], "evaluation_steps": steps},
        )


def criteria(
    name: str,
    criteria: str,
    rubric: str | Mapping[int, str] | None = None,
    threshold: float | None = 0.5,
    *,
    inputs: Sequence[str] = ("question", "answer"),
    evaluation_steps: Sequence[str] | None = None,
    scale: tuple[int, int] = (1, 5),
) -> Criteria:
    """A judge metric from criteria in plain words, with an optional rubric (G-Eval-like).

    Args:
        name: the metric's name (column in the results).
        criteria: what a good response does, in plain words.
        rubric: the scale's meaning, as text or ``{score: description}`` (its keys set the
            scale); default: ``scale`` from "does not meet" to "fully meets".
        threshold: pass mark on the normalised 0-1 value.
        inputs: row fields shown to the judge: question, answer, expected, contexts, tool_calls.
        evaluation_steps: your own steps (skips the judge writing them).
        scale: the integer scale when ``rubric`` is not a mapping.

    Example:
        >>> concise = evals.criteria(
        ...     "conciseness", "The response answers the question without filler.",
        ...     rubric={1: "rambling", 3: "some filler", 5: "no filler"}, threshold=0.75)
        >>> concise.score(Row(0, question="2+2?", answer="4"), judge)
        Score(value=1.0, reason='Direct answer, nothing extra.', ...)
    """
    return Criteria(
        name=name,
        criteria=criteria,
        rubric=rubric,
        threshold=threshold,
        inputs=tuple(inputs),
        evaluation_steps=None if evaluation_steps is None else tuple(evaluation_steps),
        scale=scale,
    )
