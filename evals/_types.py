"""The shapes every part of `evals` agrees on: a row to score, a score, a metric, a judge.

`evaluate` turns the user's data into `Row`s, calls each `Metric.score(row, judge)` and collects
the `Score`s. Deterministic metrics ignore the judge; judge metrics ask it through `Judge.ask`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class Row:
    """One example to score. Every field is optional; a metric says which ones it needs.

    Example:
        >>> Row(index=0, question="Capital of France?", answer="Paris", expected="Paris")
    """

    index: int
    question: str | None = None
    answer: Any = None
    expected: Any = None
    contexts: list[str] | None = None
    context_ids: list[str] | None = None
    reference_contexts: list[str] | None = None
    reference_context_ids: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    """Calls made, in order: ``{"name": str, "arguments": dict}``."""
    expected_tool_calls: list[dict[str, Any]] | None = None
    trace_id: str | None = None
    trace: Any = None
    """The MLflow ``Trace`` the row came from, when it came from one."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Any other columns of the input, by name."""


@dataclass(frozen=True)
class Score:
    """A metric's verdict on one row: a value, or an error saying why there is none.

    ``value`` is None only together with ``error`` (never a silent NaN).

    Example:
        >>> Score(1.0, reason="exact match")
        >>> Score(None, error="no claims in the answer: faithfulness is undefined")
    """

    value: float | None
    reason: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """Extra facts: judge prompt version, tokens, cost, the raw judge reply on a parse error."""


class MetricError(Exception):
    """Raised by a metric when a row cannot be scored; `evaluate` records it as the error."""


class BudgetExceeded(Exception):
    """Raised by a judge before a call that would go over ``budget_usd``; the row is unscored."""


@dataclass(frozen=True)
class JudgeReply:
    """A validated structured reply of a judge."""

    data: dict[str, Any]
    raw: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    cached: bool = False


@runtime_checkable
class Judge(Protocol):
    """What judge metrics need from a judge (`evals.OpenAIJudge` is the built-in one)."""

    model: str

    def ask(
        self,
        *,
        prompt_id: str,
        prompt_version: str,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
    ) -> JudgeReply:
        """Send ``messages``; return a reply whose ``data`` validates against ``schema``.

        Raises `BudgetExceeded` before a call that would exceed the budget, and
        `JudgeParseError` when the reply stays invalid after retries.
        """
        ...


class JudgeParseError(Exception):
    """The judge's reply could not be parsed or validated after retries; keeps the raw reply."""

    def __init__(
        self,
        message: str,
        raw: str,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
    ) -> None:
        super().__init__(message)
        self.raw = raw
        #: what the failed attempts used, so the score can still report it
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cost_usd = cost_usd


class Metric:
    """Base class of every metric. Subclasses set `name` and implement `score`.

    ``threshold``: a row passes when ``value >= threshold`` (aggregates report the pass rate).

    Example:
        >>> class Shouts(Metric):
        ...     name = "shouts"
        ...     def score(self, row, judge=None):
        ...         return Score(float(str(row.answer).isupper()))
    """

    name: str = "metric"
    threshold: float | None = None
    needs_judge: bool = False
    version: str = "1"
    requires: tuple[str, ...] = ()
    """Row fields the metric needs (``"answer"``, ``"expected"``, ``"contexts"``, ``"trace"``...,
    or the name of an extra column). `evaluate` refuses data where no row has one of them, and
    records a clear error in the cell of a row that lacks one."""

    def score(self, row: Row, judge: Judge | None = None) -> Score:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
