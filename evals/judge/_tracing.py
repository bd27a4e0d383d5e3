"""Judge calls as EVALUATOR spans, each in a trace of its own, kept apart from the app's traces.

A judge call starts from an empty OpenTelemetry context, so it never nests under the app span
that happens to be current; its root span carries ``llmtrace.evaluation = true`` and the trace
tag ``llmtrace.evaluation`` (filter with ``tags.`llmtrace.evaluation` = 'true'``). An
``llmtrace.session`` in force is not applied to them; an active MLflow run still links them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context

import llmtrace
from llmtrace._semconv import (
    GEN_AI_REQUEST_MODEL,
    LLMTRACE_LLM_COST_USD,
    MLFLOW_TRACE_TAG_PREFIX,
)
from llmtrace.tracing._session import _current as _current_session
from llmtrace.tracing._span import NOOP_SPAN, NoOpSpan, SpanHandle

__all__ = [
    "LLMTRACE_EVALUATION",
    "LLMTRACE_JUDGE_PROMPT_ID",
    "LLMTRACE_JUDGE_PROMPT_VERSION",
    "LLMTRACE_LLM_COST_USD",
    "judge_span",
]

# Span attribute keys of judge spans (candidates for llmtrace/_semconv.py).
LLMTRACE_EVALUATION = "llmtrace.evaluation"
LLMTRACE_JUDGE_PROMPT_ID = "llmtrace.judge.prompt_id"
LLMTRACE_JUDGE_PROMPT_VERSION = "llmtrace.judge.prompt_version"
LLMTRACE_JUDGE_ATTEMPTS = "llmtrace.judge.attempts"
LLMTRACE_JUDGE_RETRIES = "llmtrace.judge.retries"


@contextmanager
def judge_span(
    name: str,
    *,
    enabled: bool,
    model: str,
    inputs: Any,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[SpanHandle | NoOpSpan]:
    """An EVALUATOR root span in a fresh context (a no-op handle when ``enabled`` is False).

    Example:
        >>> with judge_span("judge faithfulness", enabled=True, model="gpt-4o-mini",
        ...                 inputs={"messages": msgs}) as s:
        ...     s.set_outputs(reply)
    """
    if not enabled:
        yield NOOP_SPAN
        return
    attrs = {
        LLMTRACE_EVALUATION: True,
        MLFLOW_TRACE_TAG_PREFIX + LLMTRACE_EVALUATION: "true",
        GEN_AI_REQUEST_MODEL: model,
        **(attributes or {}),
    }
    # a new root whatever span is current, outside the app's session (not one of its turns)
    token = otel_context.attach(otel_context.Context())
    session_token = _current_session.set(None)
    try:
        with llmtrace.span(name, kind="EVALUATOR", attributes=attrs, inputs=inputs) as handle:
            yield handle
    finally:
        _current_session.reset(session_token)
        otel_context.detach(token)
