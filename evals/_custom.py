"""``@evals.metric``: a plain function of row fields becomes a `Metric`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, overload

from ._data import value_of
from ._types import Row
from .metrics._base import FunctionMetric

_SPECIAL = ("row", "judge")


@overload
def metric(fn: Callable[..., Any], /) -> FunctionMetric: ...


@overload
def metric(
    *,
    name: str | None = None,
    threshold: float | None = None,
    version: str = "1",
) -> Callable[[Callable[..., Any]], FunctionMetric]: ...


def metric(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    threshold: float | None = None,
    version: str = "1",
) -> FunctionMetric | Callable[[Callable[..., Any]], FunctionMetric]:
    """Turn a function into a metric. Its parameters name the row fields it gets.

    Parameters may be any row field (``question``, ``answer``, ``expected``, ``contexts``,
    ``tool_calls``, ``trace``...), any other column of the data, ``row`` (the whole `Row`) or
    ``judge`` (the judge given to `evaluate`; the metric then needs one). Parameters without a
    default are required: a row without that value gets an error in its cell, and data where no
    row has it is refused. Return a number, ``(number, reason)`` or a `Score`; raise
    `MetricError` to say why a row cannot be scored.

    Example:
        >>> @evals.metric(name="mentions_source", threshold=1.0)
        ... def mentions_source(answer: str, contexts: list[str]) -> tuple[float, str]:
        ...     hit = any(c[:20] in answer for c in contexts)
        ...     return float(hit), "quotes a context" if hit else "quotes nothing"
        >>> evals.evaluate(rows, [mentions_source])
    """

    def wrap(func: Callable[..., Any]) -> FunctionMetric:
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        takes_all = any(
            p.kind is p.VAR_KEYWORD for p in inspect.signature(func).parameters.values()
        )
        required = tuple(p.name for p in params if p.default is p.empty and p.name not in _SPECIAL)
        wants_judge = any(p.name == "judge" for p in params)

        def call(row: Row, judge: Any = None) -> Any:
            kwargs: dict[str, Any] = {}
            if takes_all:
                kwargs.update({k: v for k, v in row.extra.items() if v is not None})
                for key in Row.__dataclass_fields__:
                    if key not in ("index", "extra") and getattr(row, key) is not None:
                        kwargs[key] = getattr(row, key)
            for p in params:
                if p.name == "row":
                    kwargs["row"] = row
                elif p.name == "judge":
                    kwargs["judge"] = judge
                else:
                    value = value_of(row, p.name)
                    if value is None and p.default is not p.empty:
                        kwargs.pop(p.name, None)
                        continue
                    kwargs[p.name] = value
            return func(**kwargs)

        return FunctionMetric(
            name or func.__name__,
            call,
            requires=required,
            threshold=threshold,
            version=version,
            needs_judge=wants_judge,
            cheap=False,
        )

    if fn is not None:
        return wrap(fn)
    return wrap
