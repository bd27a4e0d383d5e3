"""`llmtrace.span()`, span handles, `current_span()`, and the no-op handle."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llmtrace
from tests.helpers import attr_json, finished, inputs, outputs


def test_span_records_everything(memory: InMemorySpanExporter) -> None:
    with llmtrace.span("rerank", kind="RERANKER", attributes={"k": 3}) as s:
        assert isinstance(s, llmtrace.SpanHandle) and s.is_recording
        s.set_inputs({"query": "q", "docs": ["a", "b"]})
        s.set_attribute("model", "bge")
        s.set_attributes({"config": {"top_n": 2}, "ok": True})
        s.add_event("scored", {"scores": [0.1, 0.9], "detail": {"x": 1}})
        s.set_outputs(["b", "a"])
    span = finished(memory)["rerank"]
    assert span.attributes["mlflow.spanType"] == "RERANKER"
    assert span.attributes["k"] == 3 and span.attributes["model"] == "bge"
    assert attr_json(span, "config") == {"top_n": 2}
    assert inputs(span) == {"query": "q", "docs": ["a", "b"]}
    assert outputs(span) == ["b", "a"]
    (event,) = span.events
    assert event.name == "scored"
    assert list(event.attributes["scores"]) == [0.1, 0.9]
    assert json.loads(event.attributes["detail"]) == {"x": 1}
    assert s.trace_id == f"tr-{span.context.trace_id:032x}"
    assert s.span_id == f"{span.context.span_id:016x}"


def test_span_exception_passes_and_is_recorded(memory: InMemorySpanExporter) -> None:
    with pytest.raises(ZeroDivisionError), llmtrace.span("div"):
        1 / 0  # noqa: B018
    span = finished(memory)["div"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.events[0].attributes["exception.type"] == "ZeroDivisionError"


def test_record_exception_without_raising(memory: InMemorySpanExporter) -> None:
    with llmtrace.span("tool", kind="TOOL") as s:
        s.record_exception(TimeoutError("retrying"))
    span = finished(memory)["tool"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.events[0].attributes["exception.message"] == "retrying"


def test_async_with_and_nesting(memory: InMemorySpanExporter) -> None:
    async def main() -> None:
        async with llmtrace.span("outer", kind="AGENT"):
            async with llmtrace.span("inner", kind="TOOL") as inner:
                inner.set_outputs("done")

    asyncio.run(main())
    spans = finished(memory)
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id
    assert spans["outer"].attributes["mlflow.spanType"] == "AGENT"


def test_current_span_inside_trace(memory: InMemorySpanExporter) -> None:
    assert isinstance(llmtrace.current_span(), llmtrace.NoOpSpan)

    @llmtrace.trace(name="route")
    def route(q: str) -> str:
        llmtrace.current_span().set_attribute("route", "faq")
        return q

    route("x")
    assert finished(memory)["route"].attributes["route"] == "faq"


def test_noop_handle_has_every_method() -> None:
    handle = llmtrace.NoOpSpan()
    public = [n for n in dir(llmtrace.SpanHandle) if not n.startswith("_")]
    for name in public:
        assert hasattr(handle, name), name
    handle.set_inputs(1)
    handle.set_outputs(1)
    handle.set_attribute("a", 1)
    handle.set_attributes({"a": 1})
    handle.add_event("e")
    handle.record_exception(ValueError())
    handle.end()
    assert handle.is_recording is False


def test_bad_span_arguments() -> None:
    with pytest.raises(llmtrace.LLMTraceError, match="span name"):
        llmtrace.span("")
    with pytest.raises(llmtrace.LLMTraceError, match="unknown span kind"):
        llmtrace.span("x", kind="nope")


def test_retriever_outputs_become_documents(memory: InMemorySpanExporter) -> None:
    class Hit:
        def __init__(self) -> None:
            self.text = "from object"
            self.score = 0.5
            self.id = 7

    with llmtrace.span("search", kind="RETRIEVER") as s:
        s.set_outputs(
            [
                "plain",
                {"content": "with score", "score": 0.9, "metadata": {"src": "a.md"}},
                {"page_content": "mlflow shaped", "metadata": {}, "id": "d1"},
                Hit(),
            ]
        )
    assert outputs(finished(memory)["search"]) == [
        {"page_content": "plain", "metadata": {}, "id": None},
        {"page_content": "with score", "metadata": {"src": "a.md", "score": 0.9}, "id": None},
        {"page_content": "mlflow shaped", "metadata": {}, "id": "d1"},
        {"page_content": "from object", "metadata": {"score": 0.5}, "id": "7"},
    ]
