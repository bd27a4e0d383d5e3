"""A small known conversation, traced with llmtrace into a real SQLite store, at fixed times.

llmtrace's `span()` takes no timestamps, so the spans here are started on llmtrace's own tracer
(`_runtime.tracer()`, the one `span()` uses) with explicit OpenTelemetry start/end times and
registered with an llmtrace payload, exactly as `span()` does: the export thread, the
serialization, the RETRIEVER document shaping, the OpenAI wrapper's usage/cost recording and the
MLflow exporter all run for real. Only the clock is fixed, so durations can be asserted exactly.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import trace as otel_trace

import llmtrace
from llmtrace import _runtime
from llmtrace import _semconv as sc
from llmtrace.openai._request import chat_input_messages
from llmtrace.openai._response import chat_output_messages, record_usage
from llmtrace.tracing._kinds import to_kind
from llmtrace.tracing._payload import SpanPayload, register
from llmtrace.tracing._span import SpanHandle

#: 2026-01-02 03:04:05 UTC, in nanoseconds.
T0 = calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0)) * 1_000_000_000
MS = 1_000_000


@contextmanager
def _timed_span(
    name: str,
    kind: str,
    start_ms: float,
    end_ms: float,
    parent: SpanHandle | None = None,
    t0: int = T0,
) -> Iterator[SpanHandle]:
    """An llmtrace span that started ``start_ms`` and ended ``end_ms`` after ``t0`` (ns)."""
    tracer = _runtime.tracer()
    assert tracer is not None
    context = otel_trace.set_span_in_context(parent.otel_span) if parent is not None else None
    span = tracer.start_span(name, context=context, start_time=t0 + int(start_ms * MS))
    payload = SpanPayload(to_kind(kind))
    register(span.get_span_context().span_id, payload)
    handle = SpanHandle(span, payload)
    try:
        yield handle
    finally:
        span.end(end_time=t0 + int(end_ms * MS))


def chat_call(
    handle: SpanHandle, messages: list[dict[str, Any]], reply: str, usage: dict[str, int]
) -> None:
    """Record an LLM call as `llmtrace.openai`'s wrapper does (messages, output, tokens, cost)."""
    result = {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": reply},
            }
        ],
    }
    handle.otel_span.set_attribute(sc.GEN_AI_REQUEST_MODEL, "gpt-4o-mini")
    handle.otel_span.set_attribute(sc.MLFLOW_LLM_MODEL, "gpt-4o-mini")
    handle.set_inputs({"model": "gpt-4o-mini", "messages": messages})
    handle.set_attribute(sc.GEN_AI_INPUT_MESSAGES, chat_input_messages(messages))
    handle.set_outputs(result)
    handle.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, chat_output_messages(result))
    record_usage(handle, usage, ("gpt-4o-mini",))


SYSTEM = {"role": "system", "content": "You answer order questions."}


@dataclass
class Known:
    """The store holding the known conversation, and its trace ids (turn 1, turn 2)."""

    uri: str
    experiment: str
    first: str
    second: str


def build_known(t0: int = T0) -> tuple[str, str]:
    """Two turns of session ``conv-1`` (user ``alice``) from ``t0``; returns their trace ids."""
    timed_span = functools.partial(_timed_span, t0=t0)
    question = "Where is my order A-1001?"
    with llmtrace.session("conv-1", user="alice"):
        with timed_span("chat_turn", "AGENT", 0, 1200) as root:
            root.set_inputs({"text": question})
            with timed_span("retrieve", "RETRIEVER", 10, 110, root) as retrieve:
                retrieve.set_inputs({"query": question})
                retrieve.set_outputs(
                    [
                        {"content": "Order A-1001 shipped with DHL.", "score": 0.92, "id": "d1"},
                        {"content": "Returns take 14 days.", "score": 0.41, "id": "d2"},
                    ]
                )
            with timed_span("chat gpt-4o-mini", "LLM", 120, 920, root) as llm:
                chat_call(
                    llm,
                    [SYSTEM, {"role": "user", "content": question}],
                    "It shipped with DHL.",
                    {"input_tokens": 50, "output_tokens": 12, "total_tokens": 62},
                )
            with timed_span("lookup_order", "TOOL", 930, 1180, root) as tool:
                tool.set_inputs({"order_id": "A-1001"})
                tool.record_exception(TimeoutError("order service timed out"))
            root.set_outputs("Your order A-1001 shipped with DHL.")
            first = root.trace_id
        with timed_span("chat_turn", "AGENT", 60_000, 60_400) as root:
            root.set_inputs({"text": "Thanks!"})
            with timed_span("chat gpt-4o-mini", "LLM", 60_010, 60_390, root) as llm:
                chat_call(
                    llm,
                    [SYSTEM, {"role": "user", "content": "Thanks!"}],
                    "You're welcome!",
                    {"input_tokens": 80, "output_tokens": 20, "total_tokens": 100},
                )
            root.set_outputs("You're welcome!")
            second = root.trace_id
    assert llmtrace.flush(30)
    assert llmtrace.stats().failed == 0
    return first, second


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Known]:
    """The known conversation in a fresh SQLite store (experiment ``tests``), one per module.

    Tests that trace more use another experiment of the same store (see `scratch`).
    """
    uri = f"sqlite:///{tmp_path_factory.mktemp('known') / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="tests", schedule_delay_ms=20)
    try:
        first, second = build_known()
    finally:
        llmtrace.shutdown()
    yield Known(uri, "tests", first, second)


@pytest.fixture
def scratch(known: Known) -> str:
    """llmtrace configured on the known store's experiment ``scratch``; returns its name."""
    llmtrace.configure(tracking_uri=known.uri, experiment="scratch", schedule_delay_ms=20)
    return "scratch"
