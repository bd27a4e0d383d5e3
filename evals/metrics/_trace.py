"""Numbers read from a row's MLflow trace: latency, cost, tokens, steps."""

from __future__ import annotations

from collections.abc import Iterable

from .. import _traces
from .._types import MetricError, Row, Score
from ._base import FunctionMetric


def latency(*, name: str = "latency_s", threshold: float | None = None) -> FunctionMetric:
    """Seconds the traced call took (root span start to end).

    Example:
        >>> evaluate(llmtrace.search_traces(), [metrics.latency()])
    """

    def fn(row: Row) -> float:
        seconds = _traces.latency_s(row.trace)
        if seconds is None:
            raise MetricError("the trace has no root span timing")
        return seconds

    return FunctionMetric(name, fn, requires=("trace",), threshold=threshold)


def cost(*, name: str = "cost_usd", threshold: float | None = None) -> FunctionMetric:
    """USD the traced task spent on LLM calls (sum of its spans' ``mlflow.llm.cost``).

    An error when the trace recorded no cost (only priced models called through
    ``llmtrace.openai`` record one; add prices with ``llmtrace.openai.set_price``).

    Example:
        >>> evaluate(llmtrace.search_traces(), [metrics.cost()])
    """

    def fn(row: Row) -> float:
        usd = _traces.cost_usd(row.trace)
        if usd is None:
            raise MetricError(
                "no cost recorded in the trace (cost comes from llmtrace.openai calls of "
                "models with a price; see llmtrace.openai.set_price)"
            )
        return usd

    return FunctionMetric(name, fn, requires=("trace",), threshold=threshold)


def tokens(
    which: str = "total", *, name: str | None = None, threshold: float | None = None
) -> FunctionMetric:
    """LLM tokens the traced task used: ``"total"``, ``"input"`` or ``"output"``.

    Example:
        >>> evaluate(llmtrace.search_traces(), [metrics.tokens(), metrics.tokens("output")])
    """
    if which not in ("total", "input", "output"):
        raise ValueError(f"which must be 'total', 'input' or 'output', got {which!r}")
    key = f"{which}_tokens"

    def fn(row: Row) -> Score:
        usage = _traces.token_usage(row.trace) or {}
        if key not in usage:
            if which == "total" and {"input_tokens", "output_tokens"} <= set(usage):
                return Score(float(usage["input_tokens"] + usage["output_tokens"]))
            raise MetricError("no token usage recorded in the trace")
        return Score(float(usage[key]), details={"usage": usage})

    return FunctionMetric(name or f"{which}_tokens", fn, requires=("trace",), threshold=threshold)


def num_steps(
    span_types: Iterable[str] = _traces.STEP_TYPES,
    *,
    name: str = "num_steps",
    threshold: float | None = None,
) -> FunctionMetric:
    """How many steps the traced task took: spans of ``span_types`` (LLM, CHAT_MODEL, TOOL).

    Example:
        >>> evaluate(agent_traces, [metrics.num_steps(), metrics.num_steps(["TOOL"], name="tools")])
    """
    kinds = tuple(t.upper() for t in span_types)

    def fn(row: Row) -> Score:
        count = _traces.count_spans(row.trace, kinds)
        return Score(float(count), reason=f"{count} spans of type {', '.join(kinds)}")

    return FunctionMetric(
        name, fn, requires=("trace",), threshold=threshold, settings={"span_types": ",".join(kinds)}
    )
