"""``POST /v1/responses`` (the Responses API): the response object, or its stream of events."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from ._replies import Reply, Usage


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def _items(reply: Reply, ident: str, done: bool) -> list[dict[str, Any]]:
    """The output items: a message (unless the reply is tool calls only), a function call each."""
    status = "completed" if done else "in_progress"
    items: list[dict[str, Any]] = []
    if reply.text is not None or not reply.tool_calls:
        part = {"type": "output_text", "text": reply.text or "", "annotations": [], "logprobs": []}
        items.append(
            {
                "type": "message",
                "id": f"msg_{ident}",
                "status": status,
                "role": "assistant",
                "content": [part] if done else [],
            }
        )
    for i, call in enumerate(reply.tool_calls):
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{ident}_{i}",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments_json if done else "",
                "status": status,
            }
        )
    return items


def response(
    body: Mapping[str, Any],
    reply: Reply,
    usage: Usage | None,
    *,
    model: str,
    ident: str,
    done: bool = True,
) -> dict[str, Any]:
    """A ``response`` object; ``done=False``: the in-progress one that starts a stream."""
    incomplete = done and reply.finish_reason == "length"
    status = ("incomplete" if incomplete else "completed") if done else "in_progress"
    now = int(time.time())
    return {
        "id": ident,
        "object": "response",
        "created_at": now,
        "status": status,
        "completed_at": now if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": model,
        "output": _items(reply, ident, done=True) if done else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": _usage(usage) if done and usage is not None else None,
    }


def events(
    body: Mapping[str, Any], reply: Reply, usage: Usage | None, *, model: str, ident: str
) -> list[dict[str, Any]]:
    """The stream's events, in the order OpenAI sends them, each with its ``sequence_number``.

    ``response.created`` and ``.in_progress``; per output item ``output_item.added``, its
    text (``content_part.added``, an ``output_text.delta`` per word, ``output_text.done``,
    ``content_part.done``) or its arguments (``function_call_arguments.delta`` and ``.done``),
    ``output_item.done``; last ``response.completed`` (``.incomplete`` when cut at length).
    """
    started = response(body, reply, usage, model=model, ident=ident, done=False)
    finished = response(body, reply, usage, model=model, ident=ident)
    found: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        found.append({"type": f"response.{kind}", **fields, "sequence_number": len(found)})

    emit("created", response=started)
    emit("in_progress", response=started)
    pending = _items(reply, ident, done=False)
    for index, (item, done) in enumerate(zip(pending, finished["output"], strict=True)):
        at = {"item_id": item["id"], "output_index": index}
        emit("output_item.added", output_index=index, item=item)
        if item["type"] == "message":
            part, text = done["content"][0], {**at, "content_index": 0}
            emit("content_part.added", **text, part={**part, "text": ""})
            for word in re.findall(r"\S+\s*", part["text"]):
                emit("output_text.delta", **text, delta=word, logprobs=[])
            emit("output_text.done", **text, text=part["text"], logprobs=[])
            emit("content_part.done", **text, part=part)
        else:
            emit("function_call_arguments.delta", **at, delta=done["arguments"])
            emit("function_call_arguments.done", **at, arguments=done["arguments"])
        emit("output_item.done", output_index=index, item=done)
    emit("incomplete" if finished["status"] == "incomplete" else "completed", response=finished)
    return found
