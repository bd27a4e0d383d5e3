"""The sync and async paths of the OpenAI wrapper behave alike.

test_openai_wrapper.py covers several of these on one side only; here each runs on both: the
user's own exception passes as it was, a response llmtrace cannot read still reaches the caller,
a stream's span ends once however the stream ends (exhausted, failed, closed, dropped, exit),
and the wrappers keep the SDK's signatures.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import respx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llmtrace
import llmtrace.openai
from llmtrace.openai import _wrap
from tests.conftest import ROOT
from tests.openai_fakes import BASE_URL, MODEL, USER, chat_chunks, make_client, mock_api, sse

SIDES = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


@pytest.fixture(autouse=True)
def api() -> Iterator[respx.MockRouter]:
    """The fake OpenAI API (respx) in every test; `instrument` is undone after each."""
    with respx.mock(assert_all_called=False) as router:
        mock_api(router)
        yield router
    llmtrace.openai.uninstrument()


def only_span(memory: InMemorySpanExporter) -> ReadableSpan:
    assert llmtrace.flush(10)
    found = memory.get_finished_spans()
    assert len(found) == 1, [s.name for s in found]
    return found[0]


def outputs_of(span: ReadableSpan) -> Any:
    value = (span.attributes or {}).get("mlflow.spanOutputs")
    return None if value is None else json.loads(str(value))


def run(is_async: bool, call: Any) -> Any:
    """The result of a client call (awaited on an async client)."""
    return asyncio.run(call) if is_async else call


def chat(client: Any, **kwargs: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[USER], **kwargs)


class Stop(BaseException):
    """Not an ``Exception``: must pass through llmtrace all the same."""


# --- around the call ----------------------------------------------------------------------------


@SIDES
@pytest.mark.parametrize("error", [ValueError("boom"), Stop("stop")], ids=["exception", "base"])
def test_the_users_exception_passes_unchanged(
    memory: InMemorySpanExporter, is_async: bool, error: BaseException
) -> None:
    client = make_client(is_async)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    async def afail(*args: Any, **kwargs: Any) -> Any:
        raise error

    client.chat.completions.create = afail if is_async else fail  # type: ignore[method-assign]
    llmtrace.openai.wrap(client)
    with pytest.raises(type(error)) as caught:
        run(is_async, chat(client))
    assert caught.value is error
    span = only_span(memory)
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes["error.type"] == type(error).__name__


@SIDES
def test_unreadable_response_still_reaches_the_caller(
    memory: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    is_async: bool,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(_wrap, "record_result", broken)
    client = llmtrace.openai.wrap(make_client(is_async))
    reply = run(is_async, chat(client))
    assert reply.id == "chatcmpl-1"
    span = only_span(memory)
    assert span.status.status_code is StatusCode.OK
    assert span.attributes["llmtrace.extraction_error"] == "RuntimeError: extractor bug"


@SIDES
def test_instrumented_call_and_nested_call_give_one_span(
    memory: InMemorySpanExporter, is_async: bool
) -> None:
    llmtrace.openai.instrument()
    client = llmtrace.openai.wrap(make_client(is_async))  # wrapped and instrumented
    assert run(is_async, chat(client)).id == "chatcmpl-1"
    span = only_span(memory)
    assert span.name == f"chat {MODEL}"
    assert span.attributes["mlflow.spanFunctionName"] == "chat.completions.create"


@SIDES
def test_wrappers_keep_the_sdk_signatures(is_async: bool) -> None:
    from openai.resources.chat.completions import AsyncCompletions, Completions

    cls = AsyncCompletions if is_async else Completions
    client = make_client(is_async)
    before = inspect.signature(client.chat.completions.create)
    unbound = inspect.signature(cls.create)
    llmtrace.openai.wrap(client)
    llmtrace.openai.instrument()
    for traced, signature in ((client.chat.completions.create, before), (cls.create, unbound)):
        assert inspect.signature(traced) == signature
        assert traced.__name__ == "create"
        assert traced.__doc__ == cls.__dict__["create"].__wrapped__.__doc__
        assert inspect.iscoroutinefunction(traced) is is_async


# --- streams ------------------------------------------------------------------------------------


@SIDES
def test_stream_exhausted(memory: InMemorySpanExporter, is_async: bool) -> None:
    client = llmtrace.openai.wrap(make_client(is_async))

    async def both() -> list[Any]:
        return [c async for c in await chat(client, stream=True)]

    chunks = asyncio.run(both()) if is_async else list(chat(client, stream=True))
    assert len(chunks) == len(chat_chunks(first_turn=True, include_usage=False))
    span = only_span(memory)
    assert span.attributes["llmtrace.llm.stream.stopped"] == "exhausted"
    assert span.attributes["llmtrace.llm.stream.chunks"] == len(chunks) + 1  # + usage chunk
    assert "llmtrace.llm.time_to_first_token_ms" in span.attributes
    assert span.status.status_code is not StatusCode.ERROR


@SIDES
def test_error_in_the_middle_of_a_stream(
    memory: InMemorySpanExporter, api: respx.MockRouter, is_async: bool
) -> None:
    client = llmtrace.openai.wrap(make_client(is_async))
    first = chat_chunks(first_turn=False, include_usage=False)[:2]
    body = (
        sse(first)[: -len(b"data: [DONE]\n\n")] + b'data: {"error": {"message": "overloaded"}}\n\n'
    )
    got: list[Any] = []

    async def aread() -> None:
        async for chunk in await chat(client, stream=True):
            got.append(chunk)

    broken = api.post(BASE_URL + "/chat/completions").mock(
        return_value=httpx.Response(
            200, content=body, headers={"content-type": "text/event-stream"}
        )
    )
    with pytest.raises(openai.APIError, match="overloaded") as caught:
        if is_async:
            asyncio.run(aread())
        else:
            got.extend(chat(client, stream=True))
    assert broken.call_count == 1
    assert type(caught.value) is openai.APIError
    assert len(got) == 2
    span = only_span(memory)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["llmtrace.llm.stream.stopped"] == "error"
    assert [e.name for e in span.events] == ["exception"]
    assert outputs_of(span)["choices"][0]["message"]["content"] == "It is "


@SIDES
@pytest.mark.parametrize("how", ["close-twice", "close-unread", "drop-unread", "break-and-drop"])
def test_stream_ended_early_ends_span_once(
    memory: InMemorySpanExporter, is_async: bool, how: str
) -> None:
    client = llmtrace.openai.wrap(make_client(is_async))

    async def amain() -> None:
        stream = await chat(client, stream=True)
        if how == "break-and-drop":
            async for _chunk in stream:
                break
        if how.startswith("close"):
            await stream.close()
            await stream.close()
        del stream
        gc.collect()

    if is_async:
        asyncio.run(amain())
    else:
        stream = chat(client, stream=True)
        if how == "break-and-drop":
            for _chunk in stream:
                break
        if how.startswith("close"):
            stream.close()
            stream.close()
        del stream
    gc.collect()
    span = only_span(memory)
    assert span.attributes["llmtrace.llm.stream.stopped"] == "closed"
    assert span.status.status_code is not StatusCode.ERROR
    if how == "break-and-drop":
        assert outputs_of(span)["choices"][0]["message"]["role"] == "assistant"
        assert span.attributes["llmtrace.llm.stream.chunks"] == 1
    else:
        assert outputs_of(span) is None
        assert span.attributes["llmtrace.llm.stream.chunks"] == 0


_EXIT_SCRIPT = """
import asyncio
import respx
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import llmtrace
import llmtrace.openai
from tests.openai_fakes import MODEL, USER, make_client, mock_api


class Printer(SpanExporter):
    def export(self, spans):
        for span in spans:
            stopped = span.attributes["llmtrace.llm.stream.stopped"]
            print("STOPPED", stopped, span.attributes["llmtrace.llm.stream.chunks"])
        return SpanExportResult.SUCCESS


router = respx.mock(assert_all_called=False)
router.start()
mock_api(router)
llmtrace.configure(export_to_mlflow=False, exporters=[Printer()], schedule_delay_ms=10)
client = llmtrace.openai.wrap(make_client(IS_ASYNC))
call = client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
if IS_ASYNC:
    loop = asyncio.new_event_loop()  # never closed: its async generators are not finalized
    stream = loop.run_until_complete(call)
    first = loop.run_until_complete(stream.__anext__())
else:
    stream = call
    first = next(stream)
print("READ", first.id)
"""


@SIDES
def test_stream_open_at_interpreter_exit(is_async: bool) -> None:
    script = textwrap.dedent(_EXIT_SCRIPT).replace("IS_ASYNC", repr(is_async))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines == ["READ chatcmpl-1", "STOPPED interpreter exit 1"], done.stderr[-2000:]
