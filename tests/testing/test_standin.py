"""llmtrace.testing.StandIn through the official openai client: a real server on 127.0.0.1.

Chat completions (plain, streamed, sync and async), the Responses API (plain and streamed
events, checked against the client's own types), embeddings (float and base64), tool calls,
token usage, scripted errors and timeouts as the client's retries see them, the request log
with its masked secrets, and the public surface of the package.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

import llmtrace.testing
from llmtrace import LLMTraceError
from llmtrace.testing import (
    Error,
    Reply,
    StandIn,
    Timeout,
    ToolCall,
    Usage,
    echo,
    embed,
    judge_reply,
)

KEY = "sk-test-0123456789abcdef"  # not a real key; must never show up in the request log
ASK = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy between the client and 127.0.0.1."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[StandIn]:
    with StandIn() as running:
        yield running


def client(server: StandIn, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key=KEY, **options)


def server_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def chat(server: StandIn, **options: Any) -> Any:
    return client(server, **options).chat.completions.create(model="gpt-4o-mini", messages=ASK)


# -- chat completions ------------------------------------------------------------------------------
def test_chat_echoes_the_last_user_message_with_word_counted_usage(server: StandIn) -> None:
    reply = chat(server)
    assert reply.choices[0].message.content == "echo: What is the capital of France?"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "gpt-4o-mini"  # the one asked for
    # prompt: 6 words + 4 per message; completion: the assistant message as JSON, in words
    message = {"role": "assistant", "content": "echo: What is the capital of France?"}
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
        10,
        len(json.dumps(message).split()),
    )
    assert chat(server).usage == reply.usage  # deterministic


def test_async_client_and_scripted_replies_in_order() -> None:
    async def main(url: str) -> list[str | None]:
        async with openai.AsyncOpenAI(base_url=url, api_key=KEY) as aclient:
            found = []
            for _ in range(3):
                got = await aclient.chat.completions.create(model="m", messages=ASK)
                found.append(got.choices[0].message.content)
            return found

    with StandIn(["Paris.", Reply("Lyon.", usage=Usage(200, 20))]) as server:
        assert asyncio.run(main(server.url)) == ["Paris.", "Lyon.", f"echo: {ASK[0]['content']}"]
        assert server.counts["chat"] == 3


def test_stream_with_final_usage_chunk() -> None:
    with StandIn(["Paris is the capital."], model="local-model") as server:
        stream = client(server).chat.completions.create(
            model="gpt-4o-mini",
            messages=ASK,
            stream=True,
            stream_options={"include_usage": True},
        )
        found = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in found if c.choices)
    assert text == "Paris is the capital."
    assert found[0].choices[0].delta.role == "assistant"
    assert found[-2].choices[0].finish_reason == "stop"
    assert found[-1].choices == [] and found[-1].usage is not None
    assert found[-1].usage.total_tokens > 0
    assert {c.model for c in found} == {"local-model"}


def test_async_stream_without_include_usage_has_no_usage_chunk() -> None:
    async def main(url: str) -> list[Any]:
        async with openai.AsyncOpenAI(base_url=url, api_key=KEY) as aclient:
            stream = await aclient.chat.completions.create(model="m", messages=ASK, stream=True)
            return [chunk async for chunk in stream]

    with StandIn(["a b c"]) as server:
        found = asyncio.run(main(server.url))
    assert all(c.choices and c.usage is None for c in found)
    assert "".join(c.choices[0].delta.content or "" for c in found) == "a b c"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls(stream: bool) -> None:
    calls = [ToolCall("lookup_order", {"order_id": "A-1001"}), ToolCall("ping", id="call_x")]
    with StandIn([Reply(tool_calls=calls)]) as server:
        made = client(server).chat.completions.create(
            model="m", messages=ASK, tools=[], stream=stream
        )
        if stream:
            chunks = list(made)
            deltas = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or ()]
            got = [(d.index, d.id, d.function.name, d.function.arguments) for d in deltas]
            finish = chunks[-1].choices[0].finish_reason
        else:
            message = made.choices[0].message
            assert message.content is None
            got = [
                (i, c.id, c.function.name, c.function.arguments)
                for i, c in enumerate(message.tool_calls)
            ]
            finish = made.choices[0].finish_reason
    assert finish == "tool_calls"
    assert got[0][2:] == ("lookup_order", '{"order_id": "A-1001"}')
    assert got[0][1].startswith("call_standin_")  # generated
    assert got[1] == (1, "call_x", "ping", "{}")


# -- responses API ---------------------------------------------------------------------------------
def test_responses_plain_matches_the_clients_types() -> None:
    script = ["Paris.", Reply("Par", finish_reason="length"), Reply(tool_calls=[ToolCall("f")])]
    with StandIn(script) as server:
        made = client(server)
        first = made.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="Hi?")
        cut = made.responses.create(model="gpt-4o-mini", input="Hi?")
        tool = made.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": "x"}])
        raw = urllib.request.urlopen(
            urllib.request.Request(
                server.url + "/responses",
                data=json.dumps({"model": "m", "input": "Hi?"}).encode(),
                headers={"content-type": "application/json"},
            ),
            timeout=5,
        ).read()
    assert first.output_text == "Paris." and first.status == "completed"
    assert first.instructions == "Be brief."
    assert first.usage is not None and first.usage.input_tokens == 2 + 4 + 1 + 4
    assert cut.status == "incomplete" and cut.incomplete_details is not None
    assert [(o.type, o.name, o.arguments) for o in tool.output] == [("function_call", "f", "{}")]
    checked = Response.model_validate_json(raw)  # strict: every required field, right types
    assert checked.output_text == "echo: Hi?"


def test_responses_stream_events_in_order_and_valid() -> None:
    with StandIn(["Paris is big.", Reply("x", tool_calls=[ToolCall("f", {"a": 1})])]) as server:
        made = client(server)
        events = list(made.responses.create(model="m", input="Capital?", stream=True))
        with made.responses.stream(model="m", input="Capital?") as stream:
            streamed = list(stream)
            final = stream.get_final_response()
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
    for event in events:  # each event is a valid member of the client's event union
        adapter.validate_python(event.model_dump(mode="json", exclude_unset=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type.removeprefix("response.") for e in events]
    assert kinds[:4] == ["created", "in_progress", "output_item.added", "content_part.added"]
    assert kinds[4:7] == ["output_text.delta"] * 3
    assert kinds[7:] == ["output_text.done", "content_part.done", "output_item.done", "completed"]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == (
        "Paris is big."
    )
    assert "response.function_call_arguments.done" in [e.type for e in streamed]
    assert final.output_text == "x"
    assert [(o.type, getattr(o, "arguments", None)) for o in final.output] == [
        ("message", None),
        ("function_call", '{"a": 1}'),
    ]


def test_async_responses_stream() -> None:
    async def main(url: str) -> str:
        async with openai.AsyncOpenAI(base_url=url, api_key=KEY) as aclient:
            async with aclient.responses.stream(model="m", input="hello there") as stream:
                async for _ in stream:
                    pass
                return (await stream.get_final_response()).output_text

    with StandIn() as server:
        assert asyncio.run(main(server.url)) == "echo: hello there"


# -- embeddings ------------------------------------------------------------------------------------
def test_embeddings_float_and_base64(server: StandIn) -> None:
    texts = ["late fee for a DVD", "DVD late fees", "opening hours"]
    made = client(server)
    floats = made.embeddings.create(model="e", input=texts, encoding_format="float")
    decoded = made.embeddings.create(model="e", input=texts)  # the client asks base64, decodes
    assert [d.embedding for d in floats.data] == [embed(t) for t in texts]
    for got, want in zip(decoded.data, texts, strict=True):  # float32 on the wire
        assert got.embedding == pytest.approx(embed(want), abs=1e-6)
    assert floats.usage.prompt_tokens == 5 + 3 + 2 and floats.model == "e"
    small = made.embeddings.create(model="e", input="x y", dimensions=8, encoding_format="base64")
    packed = base64.b64decode(small.data[0].embedding)  # asked for: the client leaves it so
    assert struct.unpack("<8f", packed) == pytest.approx(embed("x y", dimensions=8), abs=1e-6)
    raw = server.requests[-1].body
    assert raw["encoding_format"] == "base64" and raw["dimensions"] == 8
    a, b, c = (d.embedding for d in floats.data)
    assert cosine(a, b) > 0.99 > cosine(a, c)  # texts sharing words point alike
    assert server.counts["embeddings"] == 3


# -- errors and timeouts ---------------------------------------------------------------------------
def test_429_retry_after_is_honoured_by_the_clients_retry() -> None:
    with StandIn([Error(429, retry_after=0.6), "ok"]) as server:
        reply = chat(server, max_retries=2)
        first, second = server.requests
    assert reply.choices[0].message.content == "ok"
    assert second.received_at - first.received_at >= 0.55  # waited as told, not its backoff
    with StandIn([Error(429, retry_after=2, message="slow down")]) as server:
        with pytest.raises(openai.RateLimitError, match="slow down") as caught:
            chat(server, max_retries=0)
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"


def test_500_is_an_openai_error_and_retried() -> None:
    with StandIn([Error(500), Error(503), "fine"]) as server:
        assert chat(server, max_retries=2).choices[0].message.content == "fine"
        assert server.counts["chat"] == 3
    with StandIn([Error(500)]) as server:
        with pytest.raises(openai.InternalServerError) as caught:
            chat(server, max_retries=0)
    assert caught.value.status_code == 500
    assert caught.value.body == {
        "message": "stand-in: Internal Server Error",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_timeout_then_retry_and_stop_ends_the_wait() -> None:
    with StandIn([Timeout(30), "after the timeout"]) as server:
        reply = chat(server, timeout=0.5, max_retries=1)
        assert reply.choices[0].message.content == "after the timeout"
        assert server.counts["chat"] == 2
    server = StandIn([Timeout(30)]).start()
    with pytest.raises(openai.APITimeoutError):
        chat(server, timeout=0.3, max_retries=0)
    started = time.monotonic()
    server.stop()  # the handler still waits on its Timeout: stop wakes it
    assert time.monotonic() - started < 2


def test_reply_function_and_its_failure() -> None:
    def reply(body: dict[str, Any]) -> str | Reply | Error:
        said = body["messages"][-1]["content"]
        if said == "boom":
            raise ValueError("no rule for boom")
        return Error(400, "bad question") if said == "bad" else Reply(said.upper(), usage=False)

    with StandIn(reply) as server:
        made = client(server, max_retries=2)
        upper = made.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert upper.choices[0].message.content == "X" and upper.usage is None
        with pytest.raises(openai.BadRequestError, match="bad question"):
            made.chat.completions.create(model="m", messages=[{"role": "user", "content": "bad"}])
        with pytest.raises(openai.InternalServerError, match="ValueError: no rule for boom"):
            made.chat.completions.create(model="m", messages=[{"role": "user", "content": "boom"}])
        assert server.counts["chat"] == 3  # the failure says x-should-retry: false
        server.enqueue("queued first")
        assert chat(server).choices[0].message.content == "queued first"


# -- the request log -------------------------------------------------------------------------------
def test_request_log_keeps_bodies_and_headers_but_masks_the_key(server: StandIn) -> None:
    chat(server)
    client(server).embeddings.create(model="e", input="x")
    with pytest.raises(openai.NotFoundError):
        client(server).post("/nowhere", cast_to=dict, body={})
    first, embedded, unknown = server.requests
    assert (first.method, first.path, first.endpoint) == ("POST", "/v1/chat/completions", "chat")
    assert first.body["messages"] == ASK and first.body["model"] == "gpt-4o-mini"
    assert first.headers["authorization"] == "Bearer [REDACTED]"  # a key was sent; not which
    assert first.headers["content-type"] == "application/json"
    assert embedded.endpoint == "embeddings" and (unknown.endpoint, unknown.path) == (
        "",
        "/v1/nowhere",
    )
    assert KEY not in repr(server.requests)
    assert server.counts == {"chat": 1, "embeddings": 1}
    with urllib.request.urlopen(server.url.removesuffix("/v1") + "/stand-in/stats") as got:
        stats = json.loads(got.read())
    assert stats == {"counts": {"chat": 1, "embeddings": 1}, "max_concurrent": 1}
    assert [m.id for m in client(server).models.list()] == ["stand-in"]


def test_api_key_is_checked_without_being_kept() -> None:
    with StandIn(api_key=KEY) as server:
        assert chat(server).choices[0].message.content.startswith("echo:")
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.url, api_key="sk-wrong").models.list()
        assert [r.headers["authorization"] for r in server.requests] == ["Bearer [REDACTED]"] * 2
        assert KEY not in repr(server.requests) and "sk-wrong" not in repr(server.requests)


def test_max_concurrent_counts_requests_in_flight() -> None:
    with StandIn(delay=0.5) as server:
        threads = [threading.Thread(target=chat, args=(server,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert server.max_concurrent == 4 and server.counts["chat"] == 4


# -- running it ------------------------------------------------------------------------------------
def test_start_stop_without_with() -> None:
    server = StandIn(["one"])
    with pytest.raises(LLMTraceError, match="not running"):
        _ = server.url
    assert server.start() is server and server.start() is server  # idempotent
    assert server.url == f"http://127.0.0.1:{server.port}/v1"
    assert chat(server).choices[0].message.content == "one"
    port = server.port
    server.stop()
    server.stop()
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=server_url(port), api_key=KEY, max_retries=0).models.list()
    with server:  # again, on a new port
        assert chat(server).choices[0].message.content.startswith("echo:")


def test_a_bare_reply_is_refused() -> None:
    with pytest.raises(TypeError, match="list of replies or a function"):
        StandIn("Paris")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a reply is"):
        StandIn([{"content": "x"}])  # type: ignore[list-item]


# -- judge replies ---------------------------------------------------------------------------------
def _judge_body(name: str, prompt: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": prompt}],
        "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}},
    }


def test_judge_reply_by_word_overlap() -> None:
    prompt = (
        "Context:\nParis is the capital of France.\n\nStatements:\n"
        "[1] Paris is the capital of France.\n[2] Paris has ten million bakeries."
    )
    verdicts = json.loads(judge_reply(_judge_body("faithfulness_verdicts", prompt, {})))
    assert [v["verdict"] for v in verdicts["verdicts"]] == [1, 0]
    schema = {
        "type": "object",
        "required": ["score", "tags"],
        "properties": {"score": {"type": "integer", "minimum": 1}, "tags": {"type": "array"}},
    }
    assert json.loads(judge_reply(_judge_body("unknown", "x", schema))) == {"score": 1, "tags": []}
    responses_body = {
        "input": "Answer: Paris is big. Lyon is old.",
        "text": {"format": {"type": "json_schema", "name": "faithfulness_claims", "schema": {}}},
    }
    assert json.loads(judge_reply(responses_body)) == {"claims": ["Paris is big.", "Lyon is old."]}
    assert echo(
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
    ) == ("echo: hi")


# -- the public surface ----------------------------------------------------------------------------
def test_public_surface_is_sorted_complete_and_documented() -> None:
    names = llmtrace.testing.__all__
    assert names == sorted(names)
    # (pytest's assertion rewriting, which covers a pytest11 plugin's whole distribution,
    # leaves "@py_builtins"-style names in the module: not identifiers, not public)
    public = {n for n in vars(llmtrace.testing) if n.isidentifier() and not n.startswith("_")}
    assert public == set(names)
    for name in names:
        assert getattr(llmtrace.testing, name).__doc__, name


def test_import_does_nothing() -> None:
    code = (
        "import sys, threading\n"
        "import llmtrace.testing\n"
        "assert 'mlflow' not in sys.modules, 'mlflow imported'\n"
        "assert threading.active_count() == 1, 'a thread started at import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
