"""``POST /v1/chat/completions``: the answer object, or its stream of chunks."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from ._replies import Usage


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def completion(
    message: dict[str, Any], finish: str, usage: Usage | None, *, model: str, ident: str
) -> dict[str, Any]:
    """A ``chat.completion`` with one choice holding the assistant ``message``."""
    answer: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if usage is not None:
        answer["usage"] = _usage(usage)
    return answer


def chunks(
    body: Mapping[str, Any],
    message: dict[str, Any],
    finish: str,
    usage: Usage | None,
    *,
    model: str,
    ident: str,
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer: role, a chunk per word,
    the tool calls, the finish reason, and the usage chunk when ``stream_options`` asks."""
    base = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}

    yield chunk({"role": "assistant"})
    for word in re.findall(r"\S+\s*", message.get("content") or ""):
        yield chunk({"content": word})
    for i, call in enumerate(message.get("tool_calls") or ()):
        yield chunk({"tool_calls": [{"index": i, **call}]})
    yield chunk({}, finish)
    if usage is not None and (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _usage(usage)}
