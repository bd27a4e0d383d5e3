"""``@trace(exclude_inputs=...)`` leaves arguments out; opaque objects (an API client) are a
short ``<Type object>`` tag after the plain values, never the first thing a reader sees."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from tests.helpers import finished, inputs


class Client:
    """Stands for an SDK client: no __repr__ of its own (``<...Client object at 0x...>``)."""

    api_key = "sk-not-a-real-key-0000"


def test_excluded_arguments_are_not_recorded(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="chat", exclude_inputs=("client",))
    def chat(client: Client, text: str, *, temperature: float = 0.0) -> str:
        return text.upper()

    assert chat(Client(), "hi", temperature=0.5) == "HI"
    assert chat(text="yo", client=Client()) == "YO"
    assert llmtrace.flush(10)
    first, second = [s for s in memory.get_finished_spans() if s.name == "chat"]
    assert inputs(first) == {"text": "hi", "temperature": 0.5}
    assert inputs(second) == {"text": "yo"}


def test_an_unknown_name_to_exclude_is_one_clear_error() -> None:
    with pytest.raises(llmtrace.LLMTraceError, match=r"exclude_inputs: 'clinet' is not an arg"):

        @llmtrace.trace(exclude_inputs=("clinet",))
        def chat(client: Client, text: str) -> str:
            return text

    with pytest.raises(llmtrace.LLMTraceError, match="a list or tuple of argument names"):
        llmtrace.trace(exclude_inputs="client")  # type: ignore[arg-type]


def test_opaque_objects_are_a_short_tag_after_plain_values(memory: InMemorySpanExporter) -> None:
    @llmtrace.trace(name="ask")
    def ask(client: Client, question: str, k: int = 2) -> str:
        return question

    ask(Client(), "why?")
    recorded = inputs(finished(memory)["ask"])
    assert recorded == {"question": "why?", "client": "<Client object>"}
    assert list(recorded) == ["question", "client"]  # the plain value is what one reads first
