"""Judge calls as EVALUATOR spans, each in a trace of its own, kept apart from the app's traces.

A judge call is a ``llmtrace.span(..., new_trace=True)``, so it never nests under the app span
that happens to be current; its root span carries ``llmtrace.evaluation = true`` and the trace
tag ``llmtrace.evaluation`` (filter with ``tags.`llmtrace.evaluation` = 'true'``). An
``llmtrace.session`` in force is not applied to them; an active MLflow run still links them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import llmtrace
from llmtrace.semconv import GEN_AI_REQUEST_MODEL, LLMTRACE_EVALUATION, MLFLOW_TRACE_TAG_PREFIX

__all__ = ["judge_span"]


@contextmanager
def judge_span(
    name: str,
    *,
    enabled: bool,
    model: str,
    inputs: Any,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[llmtrace.SpanHandle | llmtrace.NoOpSpan]:
    """An EVALUATOR root span in a trace of its own (a no-op handle when ``enabled`` is False).

    Example:
        >>> with judge_span("judge faithfulness", enabled=True, model="gpt-4o-mini",
        ...                 inputs={"messages": msgs}) as s:
        ...     s.set_outputs(reply)
    """
    if not enabled:
        yield llmtrace.NoOpSpan()
        return
    attrs = {
        LLMTRACE_EVALUATION: True,
        MLFLOW_TRACE_TAG_PREFIX + LLMTRACE_EVALUATION: "true",
        GEN_AI_REQUEST_MODEL: model,
        **(attributes or {}),
    }
    # a new root whatever span is current, outside the app's session (not one of its turns)
    with llmtrace.span(
        name, kind="EVALUATOR", attributes=attrs, inputs=inputs, new_trace=True
    ) as handle:
        yield handle
