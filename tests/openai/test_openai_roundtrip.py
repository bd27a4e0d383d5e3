"""OpenAI calls stored as MLflow traces: sync/async x stream/not x chat/responses, with tools.

Each test runs a two-turn tool-call conversation against the fake API (respx), then reads the
trace back with MLflow's own client and checks the LLM spans and the trace-level token totals.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import respx

import llmtrace
import llmtrace.openai
from tests.openai_fakes import (
    ANSWER,
    ARGS,
    BASE_URL,
    MODEL,
    RESPONSE_MODEL,
    USAGE_1,
    USAGE_2,
    aturn,
    make_client,
    mock_api,
    second_turn_chat,
    second_turn_responses,
    turn,
)


def _conversation(api: str, stream: bool, is_async: bool) -> tuple[Any, Any, str]:
    client = llmtrace.openai.wrap(make_client(is_async))
    with respx.mock(assert_all_called=False) as router:
        mock_api(router)
        with llmtrace.span("weather turn", kind="AGENT") as root:
            if is_async:

                async def both() -> tuple[Any, Any]:
                    first = await aturn(client, api, stream, True)
                    return first, await aturn(client, api, stream, False, first[1])

                first, second = asyncio.run(both())
            else:
                first = turn(client, api, stream, True)
                second = turn(client, api, stream, False, first[1])
    assert root.trace_id is not None
    return first, second, root.trace_id


def _tool_call_of(api: str, outputs: dict[str, Any]) -> dict[str, Any]:
    if api == "chat":
        call = outputs["choices"][0]["message"]["tool_calls"][0]
        return {"id": call["id"], **call["function"]}
    item = outputs["output"][0]
    return {"id": item["call_id"], "name": item["name"], "arguments": item["arguments"]}


def _text_of(api: str, outputs: dict[str, Any]) -> str:
    if api == "chat":
        return str(outputs["choices"][0]["message"]["content"])
    return "".join(part["text"] for part in outputs["output"][0]["content"])


def _expected_cost(usage: tuple[int, int, int], cached: int = 0) -> float:
    price = llmtrace.openai.get_price(RESPONSE_MODEL)
    assert price is not None and price.cached_input is not None
    return (
        (usage[0] - cached) * price.input + cached * price.cached_input + usage[1] * price.output
    ) / 1e6


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_tool_call_conversation_is_stored(
    backend: str, api: str, stream: bool, is_async: bool
) -> None:
    first, second, trace_id = _conversation(api, stream, is_async)
    # the caller got exactly what the API sent
    assert first == ("", ARGS)
    assert second == (ANSWER, "")

    trace = llmtrace.get_trace(trace_id)
    spans = sorted(trace.data.spans, key=lambda s: s.start_time_ns)
    assert [s.name for s in spans] == ["weather turn", f"chat {MODEL}", f"chat {MODEL}"]
    root, call1, call2 = spans
    assert call1.parent_id == root.span_id and call2.parent_id == root.span_id

    for span in (call1, call2):
        attrs = span.attributes
        assert span.span_type == "LLM"
        assert span.status.status_code.value == "OK"
        assert span.end_time_ns > span.start_time_ns  # latency
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.system"] == "openai"
        assert attrs["gen_ai.request.model"] == MODEL
        assert attrs["gen_ai.response.model"] == RESPONSE_MODEL
        assert attrs["mlflow.llm.model"] == RESPONSE_MODEL
        assert attrs["mlflow.llm.provider"] == "openai"
        assert attrs["mlflow.message.format"] == "openai"
        assert attrs["llmtrace.openai.api"] == (
            "chat.completions" if api == "chat" else "responses"
        )
        assert attrs["llmtrace.llm.stream"] is stream
        assert attrs["mlflow.chat.tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather of a city.",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ]
        if api == "chat":
            assert attrs["gen_ai.request.temperature"] == 0.0
        else:
            assert attrs["gen_ai.request.max_tokens"] == 100
            assert attrs["gen_ai.system_instructions"] == [{"type": "text", "content": "Be brief."}]
        if stream:
            assert attrs["llmtrace.llm.stream.stopped"] == "exhausted"
            assert attrs["llmtrace.llm.stream.chunks"] >= 4
            assert 0 < attrs["llmtrace.llm.time_to_first_token_ms"] < 60_000
        else:
            assert "llmtrace.llm.time_to_first_token_ms" not in attrs

    # first turn: the tool call
    assert call1.inputs["model"] == MODEL
    assert call1.attributes["gen_ai.response.id"] in ("chatcmpl-1", "resp_1")
    assert call1.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert _tool_call_of(api, call1.outputs) == {
        "id": "call_1",
        "name": "get_weather",
        "arguments": ARGS,
    }
    out_parts = call1.attributes["gen_ai.output.messages"][0]["parts"]
    assert {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": ARGS} in (
        out_parts
    )
    cached = 4 if (api == "chat" and not stream) else 0
    usage1 = call1.attributes["mlflow.chat.tokenUsage"]
    assert (usage1["input_tokens"], usage1["output_tokens"], usage1["total_tokens"]) == USAGE_1
    assert usage1.get("cache_read_input_tokens", 0) == cached
    assert call1.attributes["gen_ai.usage.input_tokens"] == USAGE_1[0]
    assert call1.attributes["gen_ai.usage.output_tokens"] == USAGE_1[1]
    assert call1.attributes["mlflow.llm.cost"]["total_cost"] == pytest.approx(
        _expected_cost(USAGE_1, cached)
    )

    # second turn: the answer, with the tool result in its inputs
    assert call2.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert _text_of(api, call2.outputs) == ANSWER
    if api == "chat":
        assert [m["role"] for m in call2.inputs["messages"]] == ["user", "assistant", "tool"]
    else:
        assert [i.get("type", "message") for i in call2.inputs["input"]] == [
            "message",
            "function_call",
            "function_call_output",
        ]
    in_parts = [p for m in call2.attributes["gen_ai.input.messages"] for p in m["parts"]]
    assert {"type": "tool_call_response", "id": "call_1", "response": "sunny"} in in_parts
    usage2 = call2.attributes["mlflow.chat.tokenUsage"]
    assert (usage2["input_tokens"], usage2["output_tokens"], usage2["total_tokens"]) == USAGE_2

    # the trace rolls the tokens and cost of both calls up
    totals = trace.info.token_usage
    assert totals is not None
    assert (totals["input_tokens"], totals["output_tokens"], totals["total_tokens"]) == (
        USAGE_1[0] + USAGE_2[0],
        USAGE_1[1] + USAGE_2[1],
        USAGE_1[2] + USAGE_2[2],
    )
    cost = trace.info.cost
    assert cost is not None
    assert cost["total_cost"] == pytest.approx(
        _expected_cost(USAGE_1, cached) + _expected_cost(USAGE_2)
    )
    # the root span is the trace's request/response preview; the LLM spans are its children
    assert json.loads(json.dumps(trace.info.trace_metadata))  # metadata is plain JSON


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_api_error_is_stored_on_the_llm_span(backend: str, api: str, is_async: bool) -> None:
    """A 500 reaches the caller unchanged; the stored LLM span is failed with its exception."""
    import httpx
    import openai

    client = llmtrace.openai.wrap(make_client(is_async))
    with respx.mock(assert_all_called=False) as router:
        for path in ("/chat/completions", "/responses"):
            router.post(f"{BASE_URL}{path}").mock(
                return_value=httpx.Response(500, json={"error": {"message": "overloaded"}})
            )
        with llmtrace.span("failing turn", kind="AGENT") as root:
            with pytest.raises(openai.InternalServerError) as caught:
                if is_async:
                    asyncio.run(aturn(client, api, False, True))
                else:
                    turn(client, api, False, True)
    assert caught.value.status_code == 500
    trace = llmtrace.get_trace(root.trace_id)
    llm = next(s for s in trace.data.spans if s.span_type == "LLM")
    assert llm.status.status_code.value == "ERROR"
    assert "InternalServerError" in llm.status.description
    assert llm.attributes["http.response.status_code"] == 500
    (event,) = [e for e in llm.events if e.name == "exception"]
    assert "overloaded" in event.attributes["exception.message"]
    assert llm.outputs is None


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_stream_broken_early_is_stored_with_what_was_read(
    backend: str, api: str, is_async: bool
) -> None:
    """The caller stops after two chunks: the span ends once, as closed, with the partial text."""
    client = llmtrace.openai.wrap(make_client(is_async))
    resource = client.chat.completions if api == "chat" else client.responses
    request = {  # the second turn streams text (the first streams a tool call)
        "model": MODEL,
        **(
            {"messages": second_turn_chat(ARGS)}
            if api == "chat"
            else {"input": second_turn_responses(ARGS)}
        ),
        "stream": True,
    }
    with respx.mock(assert_all_called=False) as router:
        mock_api(router)
        with llmtrace.span("impatient turn", kind="AGENT") as root:
            if is_async:

                async def read_two() -> int:
                    stream = await resource.create(**request)
                    seen = 0
                    async for _ in stream:
                        seen += 1
                        if seen == 2:
                            break
                    await stream.close()
                    return seen

                seen = asyncio.run(read_two())
            else:
                stream = resource.create(**request)
                seen = 0
                for _ in stream:
                    seen += 1
                    if seen == 2:
                        break
                stream.close()
    assert seen == 2
    trace = llmtrace.get_trace(root.trace_id)
    llms = [s for s in trace.data.spans if s.span_type == "LLM"]
    assert len(llms) == 1  # ended exactly once
    llm = llms[0]
    assert llm.attributes["llmtrace.llm.stream.stopped"] == "closed"
    assert llm.attributes["llmtrace.llm.stream.chunks"] == 2
    assert llm.status.status_code.value != "ERROR"  # the caller chose to stop
    text = _text_of(api, llm.outputs) if llm.outputs else ""
    assert ANSWER.startswith(text)
    assert len(text) < len(ANSWER)
