"""`llmtrace.span()`, span handles, `current_span()`, and the no-op handle."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llmtrace
from llmtrace.tracing._session import current_session
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


# -- new_trace=True: a root of its own, outside the session ------------------------------------
def test_new_trace_is_a_root_outside_the_session(memory: InMemorySpanExporter) -> None:
    with llmtrace.session("conv-1", user="alice", channel="web"):
        with llmtrace.span("request") as request:
            with llmtrace.span("grade", kind="EVALUATOR", new_trace=True) as grade:
                assert current_session() is None
                with llmtrace.span("grade step"):
                    pass
            assert llmtrace.current_span().span_id == request.span_id  # the outer span is back
            with llmtrace.span("after"):
                pass
        assert current_session() is not None and current_session().session_id == "conv-1"
        with llmtrace.span("next turn"):  # a root again: the session still applies
            pass
    spans = finished(memory)
    root = spans["grade"]
    assert root.parent is None
    assert root.context.trace_id != spans["request"].context.trace_id
    assert grade.trace_id != request.trace_id
    for key in ("session.id", "user.id", "mlflow.traceTag.channel"):
        assert key not in root.attributes, key
    assert spans["grade step"].parent.span_id == root.context.span_id
    assert spans["after"].parent.span_id == spans["request"].context.span_id
    assert spans["request"].attributes["session.id"] == "conv-1"
    assert spans["next turn"].parent is None
    assert spans["next turn"].attributes["session.id"] == "conv-1"
    assert spans["next turn"].attributes["user.id"] == "alice"


def test_new_trace_exception_passes_unchanged(memory: InMemorySpanExporter) -> None:
    error = ValueError("judge broke")
    with llmtrace.session("conv-1"), llmtrace.span("request") as request:
        with pytest.raises(ValueError) as raised, llmtrace.span("job", new_trace=True):
            raise error
        assert raised.value is error
        assert llmtrace.current_span().span_id == request.span_id
        assert current_session() is not None
    spans = finished(memory)
    assert spans["job"].parent is None and "session.id" not in spans["job"].attributes
    assert spans["job"].status.status_code is StatusCode.ERROR
    assert spans["request"].status.status_code is not StatusCode.ERROR


def test_new_trace_with_async_with(memory: InMemorySpanExporter) -> None:
    async def main() -> None:
        async with llmtrace.session("conv-2"), llmtrace.span("request") as request:
            async with llmtrace.span("job", new_trace=True):
                await asyncio.sleep(0)
                with llmtrace.span("job step"):
                    pass
            assert llmtrace.current_span().span_id == request.span_id
            assert current_session() is not None

    asyncio.run(main())
    spans = finished(memory)
    assert spans["job"].parent is None and "session.id" not in spans["job"].attributes
    assert spans["job"].context.trace_id != spans["request"].context.trace_id
    assert spans["job step"].parent.span_id == spans["job"].context.span_id
    assert spans["request"].attributes["session.id"] == "conv-2"


def test_new_trace_restores_even_when_tracing_is_off() -> None:
    llmtrace.configure(enabled=False)
    with llmtrace.session("conv-3"):
        with llmtrace.span("job", new_trace=True) as job:
            assert isinstance(job, llmtrace.NoOpSpan)
            assert current_session() is None
        assert current_session() is not None


def test_new_trace_is_stored_without_the_session(sqlite_uri: str) -> None:
    with llmtrace.session("conv-4", user="bob"), llmtrace.span("request") as request:
        with llmtrace.span("background job", new_trace=True) as job:
            job.set_outputs("done")
    stored_job = llmtrace.get_trace(job.trace_id)
    stored_request = llmtrace.get_trace(request.trace_id)
    assert [s.name for s in stored_job.data.spans] == ["background job"]
    assert [s.name for s in stored_request.data.spans] == ["request"]
    assert stored_request.info.trace_metadata.get("mlflow.trace.session") == "conv-4"
    assert "mlflow.trace.session" not in stored_job.info.trace_metadata
    assert "mlflow.trace.user" not in stored_job.info.trace_metadata
