"""The OpenAI wrapper's behaviour, on OpenTelemetry's in-memory exporter (fast, no store).

Errors, early stream ends, raw responses, structured outputs, embeddings, Azure, `instrument`,
stream options, and responses llmtrace cannot read. The stored form is covered by
test_openai_roundtrip.py and test_openai_secrets.py.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pydantic
import pytest
import respx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llmtrace
import llmtrace.openai
from llmtrace.openai import _wrap
from tests.openai_fakes import (
    ANSWER,
    BASE_URL,
    FAKE_KEY,
    MODEL,
    RESPONSE_MODEL,
    TOOLS_CHAT,
    USER,
    chat_chunks,
    chat_completion,
    make_client,
    mock_api,
    response_events,
    sse,
)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """The fake OpenAI API (respx)."""
    with respx.mock(assert_all_called=False) as router:
        mock_api(router)
        yield router


@pytest.fixture(autouse=True)
def _no_instrumentation() -> Iterator[None]:
    yield
    llmtrace.openai.uninstrument()


def spans(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    """Flush and return the finished spans, oldest first."""
    assert llmtrace.flush(10)
    return sorted(memory.get_finished_spans(), key=lambda s: s.start_time or 0)


def only_span(memory: InMemorySpanExporter) -> ReadableSpan:
    found = spans(memory)
    assert len(found) == 1, [s.name for s in found]
    return found[0]


def attr_json(span: ReadableSpan, key: str) -> Any:
    value = (span.attributes or {})[key]
    assert isinstance(value, str)
    return json.loads(value)


def chat(client: Any, **kwargs: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[USER], **kwargs)


def body_of(router: respx.MockRouter, index: int = -1) -> dict[str, Any]:
    return json.loads(router.calls[index].request.content)


# --- errors ------------------------------------------------------------------------------------

ERRORS = [
    pytest.param(
        httpx.Response(401, json={"error": {"message": "Incorrect API key", "code": "401"}}),
        openai.AuthenticationError,
        401,
        id="401",
    ),
    pytest.param(
        httpx.Response(429, json={"error": {"message": "Rate limit reached", "code": "429"}}),
        openai.RateLimitError,
        429,
        id="429",
    ),
    pytest.param(
        httpx.Response(500, json={"error": {"message": "Server error"}}),
        openai.InternalServerError,
        500,
        id="500",
    ),
    pytest.param(httpx.ReadTimeout("timed out"), openai.APITimeoutError, None, id="timeout"),
]


@pytest.mark.parametrize(("reply", "error", "status"), ERRORS)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("which", ["chat", "responses"])
def test_api_errors_are_recorded_and_reraised_unchanged(
    memory: InMemorySpanExporter,
    reply: Any,
    error: type[Exception],
    status: int | None,
    is_async: bool,
    which: str,
) -> None:
    client = llmtrace.openai.wrap(make_client(is_async))
    path = "/chat/completions" if which == "chat" else "/responses"
    with respx.mock() as router:
        route = router.post(BASE_URL + path)
        if isinstance(reply, Exception):
            route.mock(side_effect=reply)
        else:
            route.mock(return_value=reply)

        def call() -> Any:
            if which == "chat":
                return chat(client)
            return client.responses.create(model=MODEL, input="hi")

        with pytest.raises(error) as caught:
            if is_async:
                asyncio.run(call())
            else:
                call()
    span = only_span(memory)
    assert type(caught.value) is error  # the SDK's own exception type, not a wrapper
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description and span.status.description.startswith(error.__name__)
    events = [e for e in span.events if e.name == "exception"]
    assert len(events) == 1
    assert events[0].attributes["exception.type"].endswith(error.__name__)
    assert span.attributes["error.type"] == error.__name__
    if status is not None:
        assert caught.value.status_code == status  # type: ignore[attr-defined]
        assert span.attributes["http.response.status_code"] == status
    assert "mlflow.spanOutputs" not in span.attributes


def test_sync_error_is_raised_at_the_call(memory: InMemorySpanExporter) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    with respx.mock() as router:
        router.post(BASE_URL + "/chat/completions").mock(return_value=httpx.Response(429))
        with pytest.raises(openai.RateLimitError):
            chat(client)
    assert only_span(memory).status.status_code is StatusCode.ERROR


def test_error_in_the_middle_of_a_stream(memory: InMemorySpanExporter) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    first = chat_chunks(first_turn=False, include_usage=False)[:2]
    body = (
        sse(first)[: -len(b"data: [DONE]\n\n")] + b'data: {"error": {"message": "overloaded"}}\n\n'
    )
    with respx.mock() as router:
        router.post(BASE_URL + "/chat/completions").mock(
            return_value=httpx.Response(
                200, content=body, headers={"content-type": "text/event-stream"}
            )
        )
        stream = chat(client, stream=True)
        got = []
        with pytest.raises(openai.APIError, match="overloaded"):
            for chunk in stream:
                got.append(chunk)
    assert len(got) == 2
    span = only_span(memory)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["llmtrace.llm.stream.stopped"] == "error"
    partial = attr_json(span, "mlflow.spanOutputs")
    assert partial["choices"][0]["message"]["content"] == "It is "


# --- streams ending early ------------------------------------------------------------------------


def _stopped(memory: InMemorySpanExporter) -> tuple[str, Any]:
    span = only_span(memory)
    outputs = None
    if "mlflow.spanOutputs" in span.attributes:
        outputs = attr_json(span, "mlflow.spanOutputs")
    return span.attributes["llmtrace.llm.stream.stopped"], outputs


@pytest.mark.parametrize("how", ["close", "with", "break-and-drop", "drop-unread"])
def test_sync_stream_ended_early_ends_span_once(
    memory: InMemorySpanExporter, api: respx.MockRouter, how: str
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    first_two = []
    if how == "with":
        with client.responses.create(model=MODEL, input="hi", stream=True) as stream:
            for event in stream:
                first_two.append(event)
                if len(first_two) == 3:
                    break
    else:
        stream = client.responses.create(model=MODEL, input="hi", stream=True)
        if how != "drop-unread":
            for event in stream:
                first_two.append(event)
                if len(first_two) == 3:
                    break
        if how == "close":
            stream.close()
            stream.close()  # twice: still one span
        del stream
        gc.collect()
    stopped, outputs = _stopped(memory)
    assert stopped == "closed"
    if how == "drop-unread":
        assert outputs is None
    else:
        assert outputs["status"] == "incomplete"
        assert outputs["output"][0]["type"] == "function_call"


def test_sync_chat_stream_break_keeps_partial_text(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[USER, {"role": "tool", "content": "x", "tool_call_id": "c"}],
        stream=True,
    )
    for index, _chunk in enumerate(stream):
        if index == 2:
            break
    stream.close()
    stopped, outputs = _stopped(memory)
    assert stopped == "closed"
    assert outputs["choices"][0]["message"]["content"] == "It is sunny "
    span = only_span(memory)
    assert span.attributes["llmtrace.llm.stream.chunks"] == 3
    assert "mlflow.chat.tokenUsage" not in span.attributes  # the usage chunk never came


@pytest.mark.parametrize("how", ["aclose", "async-with", "break-and-drop"])
def test_async_stream_ended_early_ends_span_once(
    memory: InMemorySpanExporter, api: respx.MockRouter, how: str
) -> None:
    client = llmtrace.openai.wrap(make_client(True))

    async def main() -> None:
        stream = await client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
        if how == "async-with":
            async with stream:
                async for _chunk in stream:
                    break
            return
        async for _chunk in stream:
            break
        if how == "aclose":
            await stream.close()
        del stream
        gc.collect()

    asyncio.run(main())
    gc.collect()
    stopped, outputs = _stopped(memory)
    assert stopped == "closed"
    assert outputs["choices"][0]["message"]["role"] == "assistant"


def test_stream_usage_is_requested_and_its_chunk_hidden(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    chunks = list(chat(client, stream=True))
    assert body_of(api)["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in chunks)  # the user sees no usage-only chunk
    assert len(chunks) == len(chat_chunks(first_turn=True, include_usage=False))
    usage = attr_json(only_span(memory), "mlflow.chat.tokenUsage")
    assert usage == {"input_tokens": 20, "output_tokens": 10, "total_tokens": 30}


def test_stream_options_of_the_user_are_kept(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    chunks = list(chat(client, stream=True, stream_options={"include_usage": True}))
    assert body_of(api)["stream_options"] == {"include_usage": True}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # theirs: shown
    chunks = list(chat(client, stream=True, stream_options={"include_obfuscation": False}))
    assert body_of(api)["stream_options"] == {"include_obfuscation": False}
    assert all(chunk.choices for chunk in chunks)
    first, second = spans(memory)
    assert "mlflow.chat.tokenUsage" in first.attributes
    assert "mlflow.chat.tokenUsage" not in second.attributes  # not asked for: not invented


def test_stream_usage_can_be_turned_off(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False), stream_usage=False)
    list(chat(client, stream=True))
    assert "stream_options" not in body_of(api)
    assert only_span(memory).attributes["llmtrace.llm.stream.stopped"] == "exhausted"


def test_responses_stream_error_event_marks_span_failed(memory: InMemorySpanExporter) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    events = response_events(first_turn=False)[:3]
    events.append({"type": "error", "code": "server_error", "message": "stream broke"})
    with respx.mock() as router:
        router.post(BASE_URL + "/responses").mock(
            return_value=httpx.Response(
                200, content=sse(events, named=True), headers={"content-type": "text/event-stream"}
            )
        )
        received = list(client.responses.create(model=MODEL, input="hi", stream=True))
    assert len(received) == 4  # the user sees every event, the error one included
    span = only_span(memory)
    assert span.status.status_code is StatusCode.ERROR
    assert "stream broke" in (span.status.description or "")


# --- what reaches the caller ---------------------------------------------------------------------


def test_response_llmtrace_cannot_read_still_reaches_the_caller(
    memory: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    with respx.mock() as router:
        route = router.post(BASE_URL + "/chat/completions")
        route.mock(return_value=httpx.Response(200, json={"unexpected": ["shape", 1]}))
        odd = chat(client)
        assert odd.to_dict() == {"unexpected": ["shape", 1]}

        def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("extractor bug")

        monkeypatch.setattr(_wrap, "record_result", broken)
        route.mock(return_value=httpx.Response(200, json=chat_completion(first_turn=False)))
        good = chat(client)
        assert good.choices[0].message.content == ANSWER
    odd_span, broken_span = spans(memory)
    assert odd_span.status.status_code is StatusCode.OK
    assert broken_span.status.status_code is StatusCode.OK
    assert broken_span.attributes["llmtrace.extraction_error"] == "RuntimeError: extractor bug"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_with_raw_response_keeps_working(
    memory: InMemorySpanExporter, api: respx.MockRouter, is_async: bool
) -> None:
    client = llmtrace.openai.wrap(make_client(is_async))
    _ = client.chat.completions.with_raw_response  # built before wrapping would be stale

    async def both() -> tuple[Any, Any]:
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=[USER])
        streamed = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[USER], stream=True
        )
        chunks = [c async for c in streamed.parse()]
        return raw, chunks

    if is_async:
        raw, chunks = asyncio.run(both())
    else:
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[USER])
        streamed = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[USER], stream=True
        )
        chunks = list(streamed.parse())
    assert raw.headers["x-request-id"] == "req_chat"
    assert raw.parse().choices[0].finish_reason == "tool_calls"
    assert len(chunks) == 5
    plain, stream = spans(memory)
    assert plain.attributes["http.response.status_code"] == 200
    assert plain.attributes["llmtrace.openai.request_id"] == "req_chat"
    assert plain.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert stream.attributes["llmtrace.llm.stream.stopped"] == "exhausted"
    assert attr_json(stream, "mlflow.chat.tokenUsage")["total_tokens"] == 30


def test_with_streaming_response_keeps_working(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=[USER]
    ) as response:
        assert response.parse().id == "chatcmpl-1"
    span = only_span(memory)
    assert span.attributes["http.response.status_code"] == 200


class Weather(pydantic.BaseModel):
    city: str
    sky: str


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_parse_structured_output(memory: InMemorySpanExporter, is_async: bool) -> None:
    client = llmtrace.openai.wrap(make_client(is_async))
    body = chat_completion(first_turn=False)
    body["choices"][0]["message"]["content"] = '{"city": "Paris", "sky": "sunny"}'
    with respx.mock() as router:
        router.post(BASE_URL + "/chat/completions").mock(
            return_value=httpx.Response(200, json=body)
        )
        call = client.chat.completions.parse(model=MODEL, messages=[USER], response_format=Weather)
        result = asyncio.run(call) if is_async else call
    assert result.choices[0].message.parsed == Weather(city="Paris", sky="sunny")
    span = only_span(memory)
    assert span.attributes["mlflow.spanFunctionName"] == "chat.completions.parse"
    assert span.attributes["gen_ai.output.type"] == "json"
    inputs = attr_json(span, "mlflow.spanInputs")
    assert inputs["response_format"] == {"type": "json_schema", "name": "Weather"}
    outputs = attr_json(span, "mlflow.spanOutputs")
    assert outputs["choices"][0]["message"]["parsed"] == {"city": "Paris", "sky": "sunny"}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_embeddings(memory: InMemorySpanExporter, api: respx.MockRouter, is_async: bool) -> None:
    client = llmtrace.openai.wrap(make_client(is_async))
    call = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    result = asyncio.run(call) if is_async else call
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    span = only_span(memory)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["mlflow.spanType"] == "EMBEDDING"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 8
    assert attr_json(span, "mlflow.spanOutputs") == {
        "model": "text-embedding-3-small",
        "embeddings": 2,
        "dimensions": 8,
        "usage": {"prompt_tokens": 12, "total_tokens": 12},
    }
    assert attr_json(span, "mlflow.chat.tokenUsage") == {
        "input_tokens": 12,
        "output_tokens": 0,
        "total_tokens": 12,
    }
    assert attr_json(span, "mlflow.llm.cost")["total_cost"] == pytest.approx(12 * 0.02 / 1e6)


def test_messages_list_appended_after_the_call_is_stored_as_sent(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    messages = [USER]
    reply = client.chat.completions.create(model=MODEL, messages=messages)
    messages.append(reply.choices[0].message.to_dict())  # a chat loop does this
    span = only_span(memory)
    assert len(attr_json(span, "mlflow.spanInputs")["messages"]) == 1
    assert len(attr_json(span, "gen_ai.input.messages")) == 1


def test_one_shot_iterable_of_messages_is_recorded_and_sent(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    client.chat.completions.create(
        model=MODEL, messages=iter([USER]), tools=(t for t in TOOLS_CHAT)
    )
    assert body_of(api)["messages"] == [USER]
    assert body_of(api)["tools"] == TOOLS_CHAT
    span = only_span(memory)
    assert attr_json(span, "mlflow.spanInputs")["messages"] == [USER]
    assert attr_json(span, "mlflow.chat.tools")[0]["function"]["name"] == "get_weather"


def test_capture_content_off_keeps_tokens_but_no_text(api: respx.MockRouter) -> None:
    memory = InMemorySpanExporter()
    llmtrace.configure(
        export_to_mlflow=False, exporters=[memory], capture_content=False, schedule_delay_ms=10
    )
    client = llmtrace.openai.wrap(make_client(False))
    chat(client)
    span = only_span(memory)
    for key in ("mlflow.spanInputs", "mlflow.spanOutputs", "gen_ai.input.messages"):
        assert key not in span.attributes
    assert "gen_ai.output.messages" not in span.attributes
    assert span.attributes["gen_ai.usage.input_tokens"] == 20


def test_tracing_disabled_calls_straight_through(api: respx.MockRouter) -> None:
    llmtrace.configure(enabled=False)
    client = llmtrace.openai.wrap(make_client(False))
    assert chat(client).id == "chatcmpl-1"
    assert list(chat(client, stream=True))
    assert "stream_options" not in body_of(api)  # nothing changed when not tracing


def test_llm_span_nests_under_the_current_span(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False))

    @llmtrace.trace(kind="AGENT")
    def agent() -> str:
        return str(chat(client).id)

    agent()
    outer, llm = spans(memory)
    assert llm.parent is not None and llm.parent.span_id == outer.context.span_id
    assert llm.context.trace_id == outer.context.trace_id


# --- wrap / instrument ---------------------------------------------------------------------------


def test_wrap_rejects_what_is_not_a_client() -> None:
    with pytest.raises(llmtrace.LLMTraceError, match=r"needs an openai\.OpenAI"):
        llmtrace.openai.wrap(object())


def test_wrap_twice_and_unwrap(memory: InMemorySpanExporter, api: respx.MockRouter) -> None:
    client = make_client(False)
    assert llmtrace.openai.wrap(llmtrace.openai.wrap(client)) is client
    assert llmtrace.openai.is_wrapped(client)
    chat(client)
    assert len(spans(memory)) == 1
    llmtrace.openai.unwrap(client)
    assert not llmtrace.openai.is_wrapped(client)
    chat(client)
    assert len(spans(memory)) == 1


def test_instrument_traces_every_client_once(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    before = make_client(False)
    llmtrace.openai.instrument()
    llmtrace.openai.instrument()  # idempotent
    after = make_client(True)
    wrapped_too = llmtrace.openai.wrap(make_client(False))
    chat(before)
    asyncio.run(chat(after))
    chat(wrapped_too)  # wrapped and instrumented: still one span
    before.embeddings.create(model="text-embedding-3-small", input="a")
    assert len(spans(memory)) == 4
    llmtrace.openai.uninstrument()
    llmtrace.openai.uninstrument()
    chat(before)
    chat(wrapped_too)  # wrap() outlives uninstrument()
    assert len(spans(memory)) == 5


def test_uninstrument_restores_the_sdk_methods() -> None:
    from openai.resources.chat.completions import AsyncCompletions, Completions

    original = Completions.__dict__["create"], AsyncCompletions.__dict__["parse"]
    llmtrace.openai.instrument()
    assert llmtrace.openai.is_instrumented()
    assert Completions.__dict__["create"] is not original[0]
    llmtrace.openai.uninstrument()
    assert not llmtrace.openai.is_instrumented()
    assert (Completions.__dict__["create"], AsyncCompletions.__dict__["parse"]) == original


def test_importing_patches_nothing() -> None:
    code = (
        "import sys\n"
        "from openai.resources.chat.completions import Completions\n"
        "before = Completions.__dict__['create']\n"
        "import llmtrace, llmtrace.openai\n"
        "llmtrace.openai.wrap\n"
        "assert Completions.__dict__['create'] is before\n"
        "assert 'mlflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_azure_client(memory: InMemorySpanExporter) -> None:
    azure_key = "0123456789abcdef0123456789abcdef"  # Azure keys are plain hex
    client = llmtrace.openai.wrap(
        openai.AzureOpenAI(
            api_key=azure_key,
            azure_endpoint="https://myres.openai.azure.com",
            api_version="2024-10-21",
            http_client=httpx.Client(),
            max_retries=0,
        )
    )
    url = "https://myres.openai.azure.com/openai/deployments/my-deploy/chat/completions"
    with respx.mock() as router:
        router.post(url).mock(return_value=httpx.Response(200, json=chat_completion(False)))
        router.post(url.replace("chat/completions", "embeddings")).mock(
            return_value=httpx.Response(401, json={"error": {"message": f"bad key {azure_key}"}})
        )
        reply = client.chat.completions.create(model="my-deploy", messages=[USER])
        with pytest.raises(openai.AuthenticationError):
            client.embeddings.create(model="my-deploy", input="a")
    assert reply.choices[0].message.content == ANSWER
    ok, failed = spans(memory)
    assert ok.attributes["gen_ai.system"] == "az.ai.openai"
    assert ok.attributes["mlflow.llm.provider"] == "azure"
    assert ok.attributes["server.address"] == "myres.openai.azure.com"
    assert ok.attributes["gen_ai.request.model"] == "my-deploy"
    assert ok.attributes["gen_ai.response.model"] == RESPONSE_MODEL
    assert "mlflow.llm.cost" in ok.attributes  # priced by the model the deployment runs
    dump = json.dumps([dict(s.attributes) for s in (ok, failed)]) + repr(failed.events)
    dump += failed.status.description or ""
    assert azure_key not in dump
    assert FAKE_KEY not in dump


def test_sdk_stream_helpers_are_traced_once(
    memory: InMemorySpanExporter, api: respx.MockRouter
) -> None:
    client = llmtrace.openai.wrap(make_client(False))
    tool_turn = [USER, {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}]
    with client.chat.completions.stream(model=MODEL, messages=tool_turn) as stream:
        for _event in stream:
            pass
        assert stream.get_final_completion().choices[0].message.content == ANSWER
    with client.responses.stream(model=MODEL, input="hi") as events:
        for _event in events:
            pass
        assert events.get_final_response().id == "resp_1"
    chat_span, responses_span = spans(memory)
    assert chat_span.attributes["llmtrace.llm.stream.stopped"] == "exhausted"
    assert attr_json(chat_span, "mlflow.chat.tokenUsage")["total_tokens"] == 48
    assert responses_span.attributes["llmtrace.openai.api"] == "responses"
    assert attr_json(responses_span, "mlflow.chat.tokenUsage")["total_tokens"] == 30
