"""One small metric type for every built-in and custom metric: a named function of a row.

A metric is a frozen `FunctionMetric`: its name, the row fields it needs, a threshold, a version
and the function computing the value. Built-in metrics are factory functions returning one
(``evals.metrics.token_f1()``); ``@evals.metric`` makes one from a plain function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmtrace.views import as_text

from .._data import columns_for, value_of
from .._types import Judge, Metric, MetricError, Row, Score

#: What a metric function may return: a number, (number, reason), or a `Score`.
Result = Score | float | int | bool | tuple[float | None, str | None]


@dataclass(frozen=True, eq=False)
class FunctionMetric(Metric):
    """A metric computing ``fn(row)`` (or ``fn(row, judge)`` when it needs a judge).

    Example:
        >>> shouty = FunctionMetric("shouty", lambda row: float(row.answer.isupper()),
        ...                         requires=("answer",))
        >>> shouty.score(Row(index=0, answer="HI")).value
        1.0
    """

    name: str = "metric"
    fn: Callable[..., Result] = field(default=lambda row: None)  # every factory passes one
    requires: tuple[str, ...] = ()
    threshold: float | None = None
    version: str = "1"
    needs_judge: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The metric's options, logged as MLflow params (``metric.<name>.<option>``)."""
    cheap: bool = True
    """Pure-Python and fast: `evaluate` scores it in chunks of rows rather than one per task."""

    def score(self, row: Row, judge: Judge | None = None) -> Score:
        """Score one row; a missing field or `MetricError` becomes an error `Score`."""
        missing = missing_fields(row, self.requires)
        if missing:
            return Score(None, error=missing)
        try:
            result = self.fn(row, judge) if self.needs_judge else self.fn(row)
            return to_score(result)
        except MetricError as exc:
            return Score(None, error=str(exc))

    def __repr__(self) -> str:
        return f"FunctionMetric(name={self.name!r})"


def missing_fields(row: Row, requires: tuple[str, ...]) -> str | None:
    """An error message naming the first required field the row lacks, or None."""
    for name in requires:
        if value_of(row, name) is None:
            if name == "trace":
                return (
                    "missing trace: this metric reads the row's MLflow trace; evaluate traces "
                    "or rows with a 'trace_id' column"
                )
            return f"missing {name}: this row has no value in column {columns_for(name)}"
    return None


def to_score(result: Any) -> Score:
    """A metric function's return value as a `Score` (never a NaN value)."""
    if isinstance(result, Score):
        score = result
    elif isinstance(result, tuple) and len(result) == 2:
        value, reason = result
        score = Score(_number(value), reason=None if reason is None else str(reason))
    else:
        score = Score(_number(result))
    if score.value is None and score.error is None:
        return Score(None, reason=score.reason, error="the metric returned no value")
    if score.value is not None and math.isnan(score.value):
        return Score(None, reason=score.reason, error="the metric returned NaN")
    return score


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MetricError(
            f"the metric returned {type(value).__name__} {value!r}, not a number"
        ) from None


def text(value: Any) -> str:
    """A row value as text (strings as they are, other values as JSON)."""
    return as_text(value)


def references(expected: Any) -> list[str]:
    """The acceptable answers: ``expected`` as a one-item list, or its items if it is a list."""
    if isinstance(expected, (list, tuple)):
        if not expected:
            raise MetricError("expected is an empty list: nothing to compare with")
        return [text(item) for item in expected]
    return [text(expected)]
