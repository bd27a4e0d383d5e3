"""log_model -> register -> load via models:/ -> predict -> traced (against a local stand-in)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest

import llmtrace
import llmtrace.openai
import llmtrace.prompts
from llmtrace.testing import StandIn
from tests.openai_fakes import FAKE_KEY, TOOLS_CHAT


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A stand-in OpenAI server on 127.0.0.1, set as the environment's OpenAI endpoint."""
    with StandIn(api_key=FAKE_KEY) as server:  # any other key: 401
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield server


def test_log_register_load_predict_is_traced(sqlite_uri: str, standin: StandIn) -> None:
    prompt = llmtrace.prompts.register(
        f"support-{uuid.uuid4().hex[:6]}", "You support {{product}}. Be brief."
    )
    registered = f"chatbot-{uuid.uuid4().hex[:6]}"
    info = llmtrace.openai.log_model(
        "gpt-4o-mini",
        prompt=prompt.uri,
        params={"temperature": 0.0, "max_tokens": 50},
        tools=TOOLS_CHAT,
        name="chatbot",
        registered_model_name=registered,
        pip_requirements=["openai", "mlflow"],
    )
    assert info.registered_model_version == 1

    bot = mlflow.pyfunc.load_model(f"models:/{registered}/latest")
    answer = bot.predict({"question": "How do I trace?", "product": "llmtrace"})
    assert answer == "echo: How do I trace?"
    sent = standin.requests[-1].body
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.0
    assert sent["messages"][0] == {"role": "system", "content": "You support llmtrace. Be brief."}
    assert sent["tools"] == TOOLS_CHAT
    assert standin.requests[-1].headers["authorization"] == "Bearer [REDACTED]"  # masked
    # ... and it was FAKE_KEY, from the environment: the stand-in refuses any other key

    # also through llmtrace.load_model, and a DataFrame of inputs (one answer per row)
    same = llmtrace.load_model(f"models:/{registered}/1", flavor="pyfunc")
    frame = pd.DataFrame([{"question": "a?", "product": "x"}, {"question": "b?", "product": "y"}])
    assert same.predict(frame) == ["echo: a?", "echo: b?"]

    traces = llmtrace.search_traces()
    assert len(traces) == 3
    first = min(traces, key=lambda t: t.info.request_time)
    spans = {s.name: s for s in first.data.spans}
    assert set(spans) == {"chatbot", "chat gpt-4o-mini"}
    root, llm = spans["chatbot"], spans["chat gpt-4o-mini"]
    assert root.span_type == "CHAIN" and llm.span_type == "LLM"
    assert llm.parent_id == root.span_id
    assert root.outputs == "echo: How do I trace?"
    assert llm.attributes["gen_ai.request.temperature"] == 0.0
    assert llm.attributes["server.address"] == "127.0.0.1"
    assert llm.attributes["mlflow.chat.tokenUsage"]["total_tokens"] > 0
    assert llm.attributes["mlflow.chat.tools"][0]["function"]["name"] == "get_weather"
    linked = json.loads(first.info.tags["mlflow.linkedPrompts"])
    assert linked == [{"name": prompt.name, "version": "1"}]

    # the logged model holds the configuration, never the key
    folder = Path(mlflow.artifacts.download_artifacts(info.model_uri))
    stored = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert b"gpt-4o-mini" in stored
    assert FAKE_KEY.encode() not in stored


def test_inline_prompt_messages_and_bad_input(sqlite_uri: str, standin: StandIn) -> None:
    info = llmtrace.openai.log_model(
        "gpt-4o-mini",
        prompt=[{"role": "system", "content": "Talk like {{persona}}."}],
        name="pirate",
        pip_requirements=["openai", "mlflow"],
    )
    bot = mlflow.pyfunc.load_model(info.model_uri)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "arr"}]
    reply = bot.predict({"persona": "a pirate", "messages": history, "question": "where?"})
    assert reply == "echo: where?"
    assert [m["role"] for m in standin.requests[-1].body["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]
    with pytest.raises(llmtrace.prompts.PromptFormatError, match="missing variable"):
        bot.predict("no persona given")
    with pytest.raises(llmtrace.LLMTraceError, match="log_model needs"):
        llmtrace.openai.log_model("")
    with pytest.raises(llmtrace.LLMTraceError, match="prompt must be"):
        llmtrace.openai.log_model("gpt-4o-mini", prompt=42)
