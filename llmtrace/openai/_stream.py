"""Streamed calls: the span ends when the stream does, however it does.

The SDK's `Stream` / `AsyncStream` object is kept (so ``isinstance``, ``with``, raw responses
and the SDK's stream helpers keep working); only its ``_iterator`` and ``close`` are replaced.
The span ends exactly once: stream exhausted, failed, closed, broken out of and dropped
(garbage-collected), or at interpreter exit. Chunks are folded into one final message as they
pass (content, refusal and tool-call deltas), and the time to the first token is recorded.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .. import _semconv as sc
from .._log import warn_once
from ..tracing import _state
from ..tracing._span import SpanHandle
from ._errors import record_error
from ._request import Api, _get, client_secrets
from ._response import record_result


class _ChatChoice:
    __slots__ = ("content", "finish_reason", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None


class ChatAccumulator:
    """Folds ``chat.completion.chunk`` objects into a ``chat.completion``-shaped dict."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.choices: dict[int, _ChatChoice] = {}
        self.usage: Any = None

    def add(self, chunk: Any) -> bool:
        """Take one chunk; True when it carried generated content (a token)."""
        if not self.meta:
            for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
                self.meta[key] = _get(chunk, key)
        usage = _get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        token = False
        for choice in _get(chunk, "choices") or ():
            index = _get(choice, "index") or 0
            acc = self.choices.get(index)
            if acc is None:
                acc = self.choices[index] = _ChatChoice()
            delta = _get(choice, "delta")
            if delta is not None:
                role = _get(delta, "role")
                if role:
                    acc.role = role
                content = _get(delta, "content")
                if content:
                    acc.content.append(content)
                    token = True
                refusal = _get(delta, "refusal")
                if refusal:
                    acc.refusal.append(refusal)
                    token = True
                for call in _get(delta, "tool_calls") or ():
                    token = True
                    slot = acc.tool_calls.get(_get(call, "index") or 0)
                    if slot is None:
                        slot = acc.tool_calls[_get(call, "index") or 0] = {
                            "id": None,
                            "type": "function",
                            "function": {"name": "", "arguments": ""},
                        }
                    if _get(call, "id"):
                        slot["id"] = _get(call, "id")
                    function = _get(call, "function")
                    if function is not None:
                        if _get(function, "name"):
                            slot["function"]["name"] += _get(function, "name")
                        if _get(function, "arguments"):
                            slot["function"]["arguments"] += _get(function, "arguments")
            reason = _get(choice, "finish_reason")
            if reason:
                acc.finish_reason = reason
        return token

    def result(self) -> dict[str, Any]:
        """The accumulated completion (``object: chat.completion``)."""
        choices = []
        for index in sorted(self.choices):
            acc = self.choices[index]
            message: dict[str, Any] = {
                "role": acc.role or "assistant",
                "content": "".join(acc.content) if acc.content else None,
            }
            if acc.refusal:
                message["refusal"] = "".join(acc.refusal)
            if acc.tool_calls:
                message["tool_calls"] = [acc.tool_calls[i] for i in sorted(acc.tool_calls)]
            choices.append({"index": index, "message": message, "finish_reason": acc.finish_reason})
        out = {k: v for k, v in self.meta.items() if v is not None}
        out["object"] = "chat.completion"
        out["choices"] = choices
        if self.usage is not None:
            out["usage"] = self.usage
        return out


_FINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})


class ResponsesAccumulator:
    """Folds Responses API stream events into the final ``Response`` (or a partial dict)."""

    def __init__(self) -> None:
        self.response: Any = None
        self.final = False
        self.items: dict[int, Any] = {}
        self.text: dict[int, list[str]] = {}
        self.arguments: dict[int, list[str]] = {}
        self.error: str | None = None

    def add(self, event: Any) -> bool:
        """Take one event; True when it carried generated content (a token)."""
        kind = _get(event, "type")
        if kind == "response.output_text.delta":
            self.text.setdefault(_get(event, "output_index") or 0, []).append(
                _get(event, "delta") or ""
            )
            return True
        if kind == "response.function_call_arguments.delta":
            self.arguments.setdefault(_get(event, "output_index") or 0, []).append(
                _get(event, "delta") or ""
            )
            return True
        if kind in ("response.output_item.added", "response.output_item.done"):
            self.items[_get(event, "output_index") or 0] = _get(event, "item")
        elif kind in _FINAL_EVENTS:
            self.response = _get(event, "response")
            self.final = True
            if kind == "response.failed":
                error = _get(self.response, "error")
                self.error = f"{_get(error, 'code')}: {_get(error, 'message')}"
        elif kind in ("response.created", "response.in_progress") and not self.final:
            self.response = _get(event, "response")
        elif kind == "error":
            self.error = f"{_get(event, 'code')}: {_get(event, 'message')}"
        return False

    def result(self) -> Any:
        """The final ``Response`` when the stream completed, else what arrived of it."""
        if self.final and self.response is not None:
            return self.response
        output = []
        for index in sorted(set(self.items) | set(self.text) | set(self.arguments)):
            item = self.items.get(index)
            if item is not None and _get(item, "status") == "completed":
                output.append(item)
            elif index in self.arguments or _get(item, "type") == "function_call":
                output.append(
                    {
                        "type": "function_call",
                        "call_id": _get(item, "call_id"),
                        "name": _get(item, "name"),
                        "arguments": "".join(self.arguments.get(index, ())),
                        "status": "incomplete",
                    }
                )
            else:
                text = "".join(self.text.get(index, ()))
                output.append(
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": text}],
                        "status": "incomplete",
                    }
                )
        return {
            "id": _get(self.response, "id"),
            "model": _get(self.response, "model"),
            "object": "response",
            "status": "incomplete",
            "output": output,
        }


class StreamSpan:
    """The state of one streamed call's span; `finish` ends it exactly once."""

    __slots__ = (
        "__weakref__",
        "acc",
        "api",
        "capture_content",
        "chunks",
        "client",
        "handle",
        "hide_usage_chunk",
        "request_model",
        "started",
        "ttft_ms",
    )

    def __init__(
        self,
        handle: SpanHandle,
        api: Api,
        request_model: str | None,
        started: float,
        capture_content: bool,
        hide_usage_chunk: bool,
        client: Any,
    ) -> None:
        self.handle = handle
        self.client = client
        self.api = api
        self.request_model = request_model
        self.started = started
        self.capture_content = capture_content
        self.hide_usage_chunk = hide_usage_chunk
        self.acc: ChatAccumulator | ResponsesAccumulator = (
            ResponsesAccumulator() if api.api == "responses" else ChatAccumulator()
        )
        self.chunks = 0
        self.ttft_ms: float | None = None
        _state.register_open_generator(self)

    def take(self, chunk: Any) -> bool:
        """Fold one chunk in; False when the chunk must not reach the user.

        The usage-only chunk that llmtrace itself asked for (``include_usage``) is hidden, so
        the user's loop sees exactly the chunks it would without tracing.
        """
        try:
            self.chunks += 1
            token = self.acc.add(chunk)
            if token and self.ttft_ms is None:
                self.ttft_ms = (time.perf_counter() - self.started) * 1000.0
            if self.hide_usage_chunk and not _get(chunk, "choices"):
                return _get(chunk, "usage") is None
        except Exception as exc:
            warn_once("openai-chunk", "llmtrace could not read a stream chunk: %r", exc)
        return True

    def finish(self, exc: BaseException | None = None, reason: str = "exhausted") -> None:
        """End the span with what the stream delivered (idempotent)."""
        handle = self.handle
        if handle._ended:
            return
        _state.unregister_open_generator(self)
        try:
            span = handle.otel_span
            span.set_attribute(sc.LLMTRACE_LLM_STREAM_CHUNKS, self.chunks)
            span.set_attribute(sc.LLMTRACE_LLM_STREAM_STOPPED, reason)
            if self.ttft_ms is not None:
                span.set_attribute(sc.LLMTRACE_LLM_TIME_TO_FIRST_TOKEN_MS, self.ttft_ms)
            if self.chunks:
                result = self.acc.result()
                record_result(handle, self.api, result, self.request_model, self.capture_content)
            error = getattr(self.acc, "error", None)
            if exc is None and error:
                handle.set_error(error)
        except Exception as err:
            warn_once("openai-stream-end", "llmtrace could not record a stream: %r", err)
        if exc is not None:
            record_error(handle, exc, client_secrets(self.client))
        handle.end()

    def end_at_exit(self) -> None:
        """Called by llmtrace at interpreter exit for streams still open."""
        self.finish(reason="interpreter exit")

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        """End the span as the iteration ended: exhausted, closed or failed (which propagates)."""
        if exc is None:
            self.finish()
        elif isinstance(exc, GeneratorExit):
            self.finish(reason="closed")
        else:
            self.finish(exc, reason="error")


def _sync_iter(inner: Iterator[Any], state: StreamSpan) -> Iterator[Any]:
    with state:
        for chunk in inner:
            if state.take(chunk):
                yield chunk


async def _async_iter(inner: AsyncIterator[Any], state: StreamSpan) -> AsyncIterator[Any]:
    with state:
        async for chunk in inner:
            if state.take(chunk):
                yield chunk


def trace_stream(stream: Any, state: StreamSpan, is_async: bool) -> None:
    """Hook ``state`` into an SDK ``Stream``/``AsyncStream`` object in place."""
    close = stream.close

    def sync_close() -> None:
        try:
            close()
        finally:
            state.finish(reason="closed")

    async def async_close() -> None:
        try:
            await close()
        finally:
            state.finish(reason="closed")

    iterate = _async_iter if is_async else _sync_iter
    stream._iterator = iterate(stream._iterator, state)
    stream.close = async_close if is_async else sync_close
    finalizer = weakref.finalize(stream, state.finish, reason="closed")
    finalizer.atexit = False  # interpreter exit is handled by the open-generator registry
