"""A fake OpenAI API for tests: realistic JSON and SSE bodies, served through respx.

Clients get ``http_client=httpx.Client()`` / ``httpx.AsyncClient()`` so respx intercepts them
(openai 3.x sends through ``httpx2`` otherwise). Nothing here talks to the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import respx

BASE_URL = "https://api.openai.com/v1"
FAKE_KEY = "sk-test-FAKEKEY0123456789abcdefXYZ"
FAKE_ORG = "org-FAKEORG0123456789abcdef"
FAKE_PROJECT = "proj_FAKEPROJECT0123456789"
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"

USER = {"role": "user", "content": "What is the weather in Paris?"}
TOOLS_CHAT = [
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
TOOLS_RESPONSES = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": TOOLS_CHAT[0]["function"]["parameters"],
    }
]
ARGS = '{"city": "Paris"}'
ANSWER = "It is sunny in Paris."
#: (input, output, total) tokens of the first (tool call) and second (answer) turn
USAGE_1 = (20, 10, 30)
USAGE_2 = (40, 8, 48)


def make_client(is_async: bool, **kwargs: Any) -> openai.OpenAI | openai.AsyncOpenAI:
    """An OpenAI client that respx can mock, holding the fake key and organization."""
    options: dict[str, Any] = {
        "api_key": FAKE_KEY,
        "organization": FAKE_ORG,
        "project": FAKE_PROJECT,
        "max_retries": 0,
        **kwargs,
    }
    if is_async:
        return openai.AsyncOpenAI(http_client=httpx.AsyncClient(), **options)
    return openai.OpenAI(http_client=httpx.Client(), **options)


def sse(events: list[dict[str, Any]], *, named: bool = False) -> bytes:
    """Server-sent events as the API sends them (``event:`` lines for the Responses API)."""
    out = []
    for event in events:
        prefix = f"event: {event['type']}\n" if named else ""
        out.append(f"{prefix}data: {json.dumps(event)}\n\n")
    if not named:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def _sse_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _usage_chat(usage: tuple[int, int, int], cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": usage[0],
        "completion_tokens": usage[1],
        "total_tokens": usage[2],
        "prompt_tokens_details": {"cached_tokens": cached},
    }


# --- chat completions -------------------------------------------------------------------------


def chat_completion(first_turn: bool) -> dict[str, Any]:
    """A ``chat.completion``: a tool call on the first turn, the answer on the second."""
    if first_turn:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ARGS},
                }
            ],
        }
        reason, usage, cid = "tool_calls", USAGE_1, "chatcmpl-1"
    else:
        message = {"role": "assistant", "content": ANSWER}
        reason, usage, cid = "stop", USAGE_2, "chatcmpl-2"
    return {
        "id": cid,
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": RESPONSE_MODEL,
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
        "usage": _usage_chat(usage, cached=4 if first_turn else 0),
    }


def chat_chunks(first_turn: bool, include_usage: bool) -> list[dict[str, Any]]:
    """The same completion streamed: role, content or tool-call deltas, finish, usage."""
    cid = "chatcmpl-1" if first_turn else "chatcmpl-2"

    def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": RESPONSE_MODEL,
            "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
        }

    if first_turn:
        chunks = [
            chunk({"role": "assistant", "content": None}),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ARGS[:8]}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ARGS[8:]}}]}),
            chunk({}, "tool_calls"),
        ]
        usage = USAGE_1
    else:
        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": part}) for part in ("It is ", "sunny ", "in Paris.")]
        chunks.append(chunk({}, "stop"))
        usage = USAGE_2
    if include_usage:
        last = chunk({})
        last["choices"] = []
        last["usage"] = _usage_chat(usage)
        chunks.append(last)
    return chunks


def chat_handler(request: httpx.Request) -> httpx.Response:
    """respx side effect for ``POST /chat/completions``."""
    body = json.loads(request.content)
    first_turn = not any(m.get("role") == "tool" for m in body["messages"])
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return _sse_response(sse(chat_chunks(first_turn, include_usage)))
    return httpx.Response(
        200, json=chat_completion(first_turn), headers={"x-request-id": "req_chat"}
    )


# --- responses ---------------------------------------------------------------------------------


def response_object(first_turn: bool) -> dict[str, Any]:
    """A ``response``: a function call on the first turn, the answer message on the second."""
    if first_turn:
        output: list[dict[str, Any]] = [
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": ARGS,
                "status": "completed",
            }
        ]
        usage, rid = USAGE_1, "resp_1"
    else:
        output = [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
            }
        ]
        usage, rid = USAGE_2, "resp_2"
    return {
        "id": rid,
        "object": "response",
        "created_at": 1_700_000_000,
        "model": RESPONSE_MODEL,
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": TOOLS_RESPONSES,
        "usage": {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "total_tokens": usage[2],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def response_events(first_turn: bool) -> list[dict[str, Any]]:
    """The same response streamed as Responses API events."""
    final = response_object(first_turn)
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    item = final["output"][0]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": started},
        {
            "type": "response.output_item.added",
            "sequence_number": 1,
            "output_index": 0,
            "item": {**item, "status": "in_progress"},
        },
    ]
    if first_turn:
        for part in (ARGS[:8], ARGS[8:]):
            events.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "sequence_number": len(events),
                    "item_id": "fc_1",
                    "output_index": 0,
                    "delta": part,
                }
            )
    else:
        for part in ("It is ", "sunny ", "in Paris."):
            events.append(
                {
                    "type": "response.output_text.delta",
                    "sequence_number": len(events),
                    "item_id": "msg_1",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": part,
                    "logprobs": [],
                }
            )
    events.append(
        {
            "type": "response.output_item.done",
            "sequence_number": len(events),
            "output_index": 0,
            "item": item,
        }
    )
    events.append({"type": "response.completed", "sequence_number": len(events), "response": final})
    return events


def responses_handler(request: httpx.Request) -> httpx.Response:
    """respx side effect for ``POST /responses``."""
    body = json.loads(request.content)
    items = body["input"] if isinstance(body["input"], list) else []
    first_turn = not any(
        isinstance(i, dict) and i.get("type") == "function_call_output" for i in items
    )
    if body.get("stream"):
        return _sse_response(sse(response_events(first_turn), named=True))
    return httpx.Response(200, json=response_object(first_turn))


def embeddings_handler(request: httpx.Request) -> httpx.Response:
    """respx side effect for ``POST /embeddings``: one 8-dim vector per input."""
    body = json.loads(request.content)
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    return httpx.Response(
        200,
        json={
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.1] * 8}
                for i in range(len(inputs))
            ],
            "usage": {"prompt_tokens": 6 * len(inputs), "total_tokens": 6 * len(inputs)},
        },
    )


def mock_api(router: respx.MockRouter) -> None:
    """Route the fake API's endpoints on ``router``."""
    router.post(f"{BASE_URL}/chat/completions").mock(side_effect=chat_handler)
    router.post(f"{BASE_URL}/responses").mock(side_effect=responses_handler)
    router.post(f"{BASE_URL}/embeddings").mock(side_effect=embeddings_handler)


# --- calling the API the way users do, sync or async -------------------------------------------


def second_turn_chat(args: str) -> list[dict[str, Any]]:
    """The conversation after the tool ran."""
    return [
        USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": args},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]


def second_turn_responses(args: str) -> list[dict[str, Any]]:
    """The Responses input after the tool ran."""
    return [
        {"role": "user", "content": USER["content"]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": args},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]


def consume_chat(chunks: Iterator[Any]) -> tuple[str, str]:
    """(text, tool arguments) a user's loop builds from chat chunks (``choices[0]`` always)."""
    text, args = "", ""
    for chunk in chunks:
        delta = chunk.choices[0].delta  # IndexError here if a usage-only chunk leaked through
        text += delta.content or ""
        for call in delta.tool_calls or ():
            args += call.function.arguments or ""
    return text, args


def consume_responses(events: Iterator[Any]) -> tuple[str, str]:
    """(text, tool arguments) a user's loop builds from Responses events."""
    text, args = "", ""
    for event in events:
        if event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "response.function_call_arguments.delta":
            args += event.delta
    return text, args


def _request(api: str, stream: bool, first_turn: bool, args: str) -> dict[str, Any]:
    if api == "chat":
        messages = [USER] if first_turn else second_turn_chat(args)
        return {
            "model": MODEL,
            "messages": messages,
            "tools": TOOLS_CHAT,
            "temperature": 0.0,
            "stream": stream,
        }
    return {
        "model": MODEL,
        "input": USER["content"] if first_turn else second_turn_responses(args),
        "instructions": "Be brief.",
        "tools": TOOLS_RESPONSES,
        "max_output_tokens": 100,
        "stream": stream,
    }


def _read(api: str, result: Any) -> tuple[str, str]:
    if api == "chat":
        message = result.choices[0].message
        return message.content or "", "".join(
            c.function.arguments for c in message.tool_calls or ()
        )
    args = "".join(i.arguments for i in result.output if i.type == "function_call")
    return result.output_text, args


def turn(client: Any, api: str, stream: bool, first_turn: bool, args: str = ARGS) -> Any:
    """One call with a sync client, streamed or not; returns (text, tool arguments)."""
    resource = client.chat.completions if api == "chat" else client.responses
    result = resource.create(**_request(api, stream, first_turn, args))
    if stream:
        return consume_chat(result) if api == "chat" else consume_responses(result)
    return _read(api, result)


async def aturn(client: Any, api: str, stream: bool, first_turn: bool, args: str = ARGS) -> Any:
    """`turn` with an async client."""
    resource = client.chat.completions if api == "chat" else client.responses
    result = await resource.create(**_request(api, stream, first_turn, args))
    if stream:
        chunks = [chunk async for chunk in result]
        return consume_chat(chunks) if api == "chat" else consume_responses(chunks)
    return _read(api, result)
