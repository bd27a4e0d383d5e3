"""Prompts: register -> load -> format -> use inside a trace -> the trace shows the version."""

from __future__ import annotations

import json
import uuid

import pytest

import llmtrace
import llmtrace.prompts
from llmtrace.prompts import PromptFormatError, PromptNotFoundError

CHAT = [
    {"role": "system", "content": "You answer questions about {{product}}."},
    {"role": "user", "content": "{{question}}"},
]


def _name() -> str:
    return f"support-{uuid.uuid4().hex[:8]}"


def test_register_load_format_and_link_to_trace(backend: str) -> None:
    name = _name()
    v1 = llmtrace.prompts.register(
        name,
        "Answer as a {{style}} assistant: {{question}}",
        commit_message="first",
        tags={"team": "a"},
    )
    v2 = llmtrace.prompts.register(name, CHAT, commit_message="chat version")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.uri == f"prompts:/{name}/1"
    assert v1.commit_message == "first" and v1.tags == {"team": "a"}
    assert not v1.is_chat and v2.is_chat
    assert v2.variables == {"product", "question"}

    assert llmtrace.prompts.load(f"prompts:/{name}/1") == v1
    assert llmtrace.prompts.load(f"prompts:/{name}@latest") == v2
    assert llmtrace.prompts.load(name) == v2
    assert llmtrace.prompts.load(name, version=1) == v1
    llmtrace.prompts.set_alias(name, "production", 1)
    assert llmtrace.prompts.load(f"prompts:/{name}@production") == v1

    text = v1.format(style="terse", question="What is llmtrace?")
    assert text == "Answer as a terse assistant: What is llmtrace?"
    assert v2.format(product="llmtrace", question="How?") == [
        {"role": "system", "content": "You answer questions about llmtrace."},
        {"role": "user", "content": "How?"},
    ]

    # used inside a trace: the stored trace names the prompt version
    with llmtrace.span("answer", kind="CHAIN") as root:
        with llmtrace.span("build prompt"):
            prompt = llmtrace.prompts.load(f"prompts:/{name}@production")
            prompt.format(style="terse", question="Why?")
    with llmtrace.span("unrelated") as other:
        pass
    assert root.trace_id is not None and other.trace_id is not None
    trace = llmtrace.get_trace(root.trace_id)
    linked = json.loads(trace.info.tags["mlflow.linkedPrompts"])
    assert linked == [{"name": name, "version": "1"}]
    (inner,) = [s for s in trace.data.spans if s.name == "build prompt"]
    on_span = inner.attributes["mlflow.linkedPrompts"]
    assert (json.loads(on_span) if isinstance(on_span, str) else on_span) == linked
    found = llmtrace.search_traces(f'prompt = "{name}/1"')
    assert [t.info.trace_id for t in found] == [root.trace_id]
    assert "mlflow.linkedPrompts" not in llmtrace.get_trace(other.trace_id).info.tags


def test_format_names_missing_and_unknown_variables(sqlite_uri: str) -> None:
    prompt = llmtrace.prompts.register(_name(), "Hello {{name}}, you are {{mood}}.")
    with pytest.raises(PromptFormatError, match=r"missing variable\(s\) 'mood'") as caught:
        prompt.format(name="Ada")
    assert "(the template uses: mood, name)" in str(caught.value)
    with pytest.raises(PromptFormatError, match=r"unknown variable\(s\) 'colour'"):
        prompt.format(name="Ada", mood="glad", colour="red")
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, llmtrace.LLMTraceError)


def test_missing_prompt_version_and_alias_are_named(sqlite_uri: str) -> None:
    name = _name()
    llmtrace.prompts.register(name, "v1 {{x}}")
    llmtrace.prompts.register(name, "v2 {{x}}")
    with pytest.raises(PromptNotFoundError, match=r"has no version 7 \(versions: 1, 2\)"):
        llmtrace.prompts.load(f"prompts:/{name}/7")
    with pytest.raises(PromptNotFoundError, match=r"has no alias 'prod' \(aliases: latest\)"):
        llmtrace.prompts.load(f"prompts:/{name}@prod")
    with pytest.raises(PromptNotFoundError, match="no prompt named 'nope-404'"):
        llmtrace.prompts.load("prompts:/nope-404/1")
    with pytest.raises(PromptNotFoundError, match="no prompt named 'nope-404'"):
        llmtrace.prompts.load("nope-404")


def test_bad_arguments_raise_clear_errors(sqlite_uri: str) -> None:
    for template in (42, [], [{"content": "no role"}]):
        with pytest.raises(llmtrace.LLMTraceError, match="a prompt template is"):
            llmtrace.prompts.register("x", template)  # type: ignore[arg-type]
    with pytest.raises(llmtrace.LLMTraceError, match="non-empty name"):
        llmtrace.prompts.register(" ", "t")
    with pytest.raises(llmtrace.LLMTraceError, match="not a prompt URI"):
        llmtrace.prompts.load("prompts:/x")
    with pytest.raises(llmtrace.LLMTraceError, match="not both"):
        llmtrace.prompts.load("prompts:/x/1", version=2)
