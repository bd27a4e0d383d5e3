"""`llmtrace.session()` stamps root spans; context across threads, tasks and services."""

from __future__ import annotations

import asyncio
import threading

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from tests.helpers import finished


def test_session_stamps_root_spans_only(memory: InMemorySpanExporter) -> None:
    with llmtrace.session("conv-1", user="alice", channel="web"), llmtrace.span("turn"):
        with llmtrace.span("step"):
            pass
    spans = finished(memory)
    root = spans["turn"].attributes
    assert root["session.id"] == "conv-1" and root["user.id"] == "alice"
    assert root["mlflow.traceTag.channel"] == "web"
    assert "session.id" not in spans["step"].attributes


def test_sessions_nest_and_restore(memory: InMemorySpanExporter) -> None:
    with llmtrace.session("outer"):
        with llmtrace.session("inner"), llmtrace.span("a"):
            pass
        with llmtrace.span("b"):
            pass
    with llmtrace.span("c"):
        pass
    spans = finished(memory)
    assert spans["a"].attributes["session.id"] == "inner"
    assert spans["b"].attributes["session.id"] == "outer"
    assert "session.id" not in spans["c"].attributes


def test_sessions_are_per_thread_and_per_task(memory: InMemorySpanExporter) -> None:
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        with llmtrace.session(f"s-{name}"):
            barrier.wait()
            with llmtrace.span(f"t-{name}"):
                pass

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def task(name: str) -> None:
        async with llmtrace.session(f"s-{name}"):
            await asyncio.sleep(0.001)
            async with llmtrace.span(f"t-{name}"):
                pass

    async def main() -> None:
        await asyncio.gather(task("a"), task("b"))

    asyncio.run(main())
    spans = finished(memory)
    for name in "xyab":
        assert spans[f"t-{name}"].attributes["session.id"] == f"s-{name}"


def test_executor_keeps_parent_and_session(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="work")
    def work(i: int) -> int:
        return i * i

    with llmtrace.session("pool"), llmtrace.span("fanout"):
        with llmtrace.ContextThreadPoolExecutor(max_workers=2) as pool:
            assert list(pool.map(work, range(4))) == [0, 1, 4, 9]
    llmtrace.flush()
    spans = memory.get_finished_spans()
    fanout = next(s for s in spans if s.name == "fanout")
    works = [s for s in spans if s.name == "work"]
    assert len(works) == 4
    assert all(w.parent.span_id == fanout.context.span_id for w in works)


def test_traceparent_round_trip(memory: InMemorySpanExporter) -> None:
    with llmtrace.span("client-call"):
        headers = llmtrace.inject_traceparent({"Content-Type": "application/json"})
    assert headers["traceparent"].startswith("00-")
    with llmtrace.extract_traceparent({"Traceparent": headers["traceparent"]}):
        with llmtrace.span("server-handler"):
            pass
    spans = finished(memory)
    client, server = spans["client-call"], spans["server-handler"]
    assert server.context.trace_id == client.context.trace_id
    assert server.parent.span_id == client.context.span_id


@pytest.mark.parametrize("bad", ["", None, 3, "x" * 251])
def test_bad_session_id(bad: object) -> None:
    with pytest.raises(llmtrace.LLMTraceError, match="session_id"):
        llmtrace.session(bad)  # type: ignore[arg-type]
