"""@trace on every kind of callable, checked on OpenTelemetry's in-memory exporter."""

from __future__ import annotations

import asyncio
import gc
import inspect
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llmtrace
from tests.helpers import finished, inputs, outputs


def test_bare_and_called_forms_keep_name_doc_and_signature(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace
    def add(a: int, b: int = 2) -> int:
        """Add."""
        return a + b

    @llmtrace.trace(name="custom", kind="TOOL", attributes={"team": "search"})
    def mul(a: int, b: int) -> int:
        return a * b

    assert add.__name__ == "add" and add.__doc__ == "Add."
    def twin(a: int, b: int = 2) -> int:
        return a + b

    assert inspect.signature(add) == inspect.signature(twin)
    assert add(1) == 3 and mul(2, 3) == 6
    spans = finished(memory)
    plain = spans["test_bare_and_called_forms_keep_name_doc_and_signature.<locals>.add"]
    assert plain.attributes["mlflow.spanType"] == "UNKNOWN"
    assert inputs(plain) == {"a": 1} and outputs(plain) == 3
    custom = spans["custom"]
    assert custom.attributes["mlflow.spanType"] == "TOOL"
    assert custom.attributes["team"] == "search"
    assert inputs(custom) == {"a": 2, "b": 3} and outputs(custom) == 6


def test_methods_drop_self_and_cls(memory: InMemorySpanExporter) -> None:
    class Bot:
        @llmtrace.trace(name="method")
        def reply(self, text: str) -> str:
            return text.upper()

        @llmtrace.trace(name="cm")
        @classmethod
        def make(cls, n: int) -> int:
            return n

        @llmtrace.trace(name="sm")
        @staticmethod
        def helper(x: int) -> int:
            return x

    assert Bot().reply("hi") == "HI" and Bot.make(3) == 3 and Bot.helper(4) == 4
    spans = finished(memory)
    assert inputs(spans["method"]) == {"text": "hi"}
    assert inputs(spans["cm"]) == {"n": 3}
    assert inputs(spans["sm"]) == {"x": 4}


def test_nesting_and_kwargs(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="inner", kind="LLM")
    def inner(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    @llmtrace.trace(name="outer", kind="CHAIN")
    def outer(*args: Any) -> Any:
        return inner(model="m", temperature=0)

    outer(1, 2)
    spans = finished(memory)
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id
    assert spans["outer"].parent is None
    assert inputs(spans["inner"]) == {"model": "m", "temperature": 0}
    assert inputs(spans["outer"]) == {"args": [1, 2]}


def test_inputs_are_a_snapshot_at_call_time(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="chat")
    def chat(messages: list[dict[str, str]]) -> str:
        return "hello"

    history = [{"role": "user", "content": "hi"}]
    reply = chat(history)
    history.append({"role": "assistant", "content": reply})
    assert inputs(finished(memory)["chat"]) == {"messages": [{"role": "user", "content": "hi"}]}


def test_exception_passes_unchanged_and_is_recorded(memory: InMemorySpanExporter) -> None:
    class Boom(Exception):
        pass

    err = Boom("model refused")

    @llmtrace.trace(name="fails")
    def fails() -> None:
        raise err

    with pytest.raises(Boom) as info:
        fails()
    assert info.value is err
    assert info.traceback[-1].name == "fails"
    span = finished(memory)["fails"]
    assert span.status.status_code is StatusCode.ERROR
    assert "model refused" in (span.status.description or "")
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("Boom")
    assert event.attributes["exception.message"] == "model refused"
    assert "raise err" in event.attributes["exception.stacktrace"]


def test_async_function(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="child")
    async def child(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    @llmtrace.trace(name="parent")
    async def parent() -> list[int]:
        return list(await asyncio.gather(child(1), child(2)))

    assert asyncio.run(parent()) == [1, 2]
    llmtrace.flush()
    spans = memory.get_finished_spans()
    parent_span = next(s for s in spans if s.name == "parent")
    children = [s for s in spans if s.name == "child"]
    assert len(children) == 2
    assert {c.parent.span_id for c in children} == {parent_span.context.span_id}
    assert sorted(outputs(c) for c in children) == [1, 2]


def test_generator_outputs_items_and_reducer(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="tokens")
    def tokens() -> Any:
        yield "Hel"
        yield "lo"

    @llmtrace.trace(name="joined", output_reducer="".join)
    def joined() -> Any:
        yield from ["a", "b"]

    assert list(tokens()) == ["Hel", "lo"] and list(joined()) == ["a", "b"]
    spans = finished(memory)
    assert outputs(spans["tokens"]) == ["Hel", "lo"]
    assert outputs(spans["joined"]) == "ab"


def test_generator_children_nest_under_generator_span(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="step")
    def step(i: int) -> int:
        return i

    @llmtrace.trace(name="gen")
    def gen() -> Any:
        for i in range(2):
            yield step(i)

    @llmtrace.trace(name="consumer")
    def consumer() -> int:
        return sum(gen())

    consumer()
    llmtrace.flush()
    spans = memory.get_finished_spans()
    gen_span = next(s for s in spans if s.name == "gen")
    consumer_span = next(s for s in spans if s.name == "consumer")
    assert gen_span.parent.span_id == consumer_span.context.span_id
    steps = [s for s in spans if s.name == "step"]
    assert [s.parent.span_id for s in steps] == [gen_span.context.span_id] * 2


@pytest.mark.parametrize("how", ["break", "close", "gc"])
def test_generator_stopped_early_ends_span_once(memory: InMemorySpanExporter, how: str) -> None:
    cleaned: list[str] = []

    @llmtrace.trace(name="stream")
    def stream() -> Any:
        try:
            yield from range(100)
        finally:
            cleaned.append("done")

    gen = stream()
    if how == "break":
        for item in gen:
            if item == 2:
                break
        del gen
    elif how == "close":
        next(gen), next(gen), next(gen)
        gen.close()
    else:
        next(gen), next(gen), next(gen)
        del gen
        gc.collect()
    assert cleaned == ["done"]
    llmtrace.flush()
    spans = [s for s in memory.get_finished_spans() if s.name == "stream"]
    assert len(spans) == 1
    assert outputs(spans[0]) == [0, 1, 2]
    assert spans[0].attributes["llmtrace.generator.stopped"] == "closed"
    assert spans[0].status.status_code is StatusCode.OK


def test_generator_error_is_recorded(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="bad")
    def bad() -> Any:
        yield 1
        raise KeyError("gone")

    with pytest.raises(KeyError):
        list(bad())
    span = finished(memory)["bad"]
    assert span.status.status_code is StatusCode.ERROR
    assert outputs(span) == [1]


def test_generator_send_and_throw_are_forwarded(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="echo")
    def echo() -> Any:
        received = []
        while True:
            try:
                value = yield len(received)
            except ValueError:
                value = "thrown"
            if value is None:
                return received
            received.append(value)

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(ValueError("x")) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == ["a", "thrown"]
    assert outputs(finished(memory)["echo"]) == [0, 1, 2]


def test_async_generator_full_and_early_close(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="agen")
    async def agen(n: int) -> Any:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main() -> tuple[list[int], list[int]]:
        full = [i async for i in agen(3)]
        early = []
        stream = agen(10)
        async for i in stream:
            early.append(i)
            if i == 1:
                break
        await stream.aclose()
        return full, early

    assert asyncio.run(main()) == ([0, 1, 2], [0, 1])
    llmtrace.flush()
    spans = sorted(
        (s for s in memory.get_finished_spans() if s.name == "agen"),
        key=lambda s: s.start_time or 0,
    )
    assert len(spans) == 2
    assert outputs(spans[0]) == [0, 1, 2]
    assert "llmtrace.generator.stopped" not in spans[0].attributes
    assert outputs(spans[1]) == [0, 1]
    assert spans[1].attributes["llmtrace.generator.stopped"] == "closed"


def test_capture_flags(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="private", capture_inputs=False, capture_outputs=False)
    def private(password_hint: str) -> str:
        return "secret answer"

    private("x")
    span = finished(memory)["private"]
    assert "mlflow.spanInputs" not in span.attributes
    assert "mlflow.spanOutputs" not in span.attributes


def test_capture_content_off_globally() -> None:
    exporter = InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[exporter], capture_content=False)

    @llmtrace.trace(name="f")
    def f(x: str) -> str:
        return x

    f("text")
    span = finished(exporter)["f"]
    assert "mlflow.spanInputs" not in span.attributes
    assert span.attributes["mlflow.spanType"] == "UNKNOWN"


def test_disabled_tracing_calls_through() -> None:
    exporter = InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[exporter], enabled=False)

    @llmtrace.trace
    def f(x: int) -> int:
        return x * 2

    @llmtrace.trace
    def g() -> Any:
        yield 1

    with llmtrace.span("s") as s:
        s.set_outputs("ignored")
    assert f(2) == 4 and list(g()) == [1]
    assert isinstance(s, llmtrace.NoOpSpan)
    assert llmtrace.flush() and exporter.get_finished_spans() == ()


def test_sampling_keeps_whole_traces() -> None:
    exporter = InMemorySpanExporter()
    llmtrace.configure(export_to_mlflow=False, exporters=[exporter], sample_rate=0.5)

    @llmtrace.trace(name="child")
    def child() -> None:
        pass

    @llmtrace.trace(name="root")
    def root() -> None:
        child()

    for _ in range(400):
        root()
    llmtrace.flush()
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.name == "root"]
    children = [s for s in spans if s.name == "child"]
    assert 100 < len(roots) < 300  # P(outside) < 1e-20 for a fair 50% sampler
    assert len(children) == len(roots)
    root_ids = {s.context.span_id for s in roots}
    assert all(c.parent.span_id in root_ids for c in children)


def test_bad_decorator_arguments_raise_clear_errors() -> None:
    with pytest.raises(llmtrace.LLMTraceError, match="unknown span kind 'RETRIVER'"):
        llmtrace.trace(kind="RETRIVER")
    with pytest.raises(llmtrace.LLMTraceError, match="attributes must be a mapping"):
        llmtrace.trace(attributes=["a"])  # type: ignore[arg-type]
