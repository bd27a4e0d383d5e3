"""Chat messages of a span, from every shape they come in: GenAI semconv ``gen_ai.*.messages``,
OpenAI ``messages``/``choices``, LangChain's serialized and dumped messages and ``generations``,
and OpenInference's flattened ``llm.{input,output}_messages.N.message.*`` attributes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..tracing._serialize import as_text


def _loads(value: Any) -> Any:
    """A JSON text decoded (values stored twice-encoded come back as text first)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass
class Message:
    """One chat message of an LLM call: role and its text (tool calls spelled out)."""

    role: str
    text: str




def _parts_text(parts: Any) -> str:
    """GenAI message parts (text, tool calls, tool results) as one line of text."""
    if isinstance(parts, str):
        return parts
    texts: list[str] = []
    for part in parts or ():
        if not isinstance(part, dict):
            texts.append(str(part))
            continue
        kind = part.get("type")
        if kind in ("text", "refusal", None) and "content" in part:
            texts.append(str(part.get("content") or ""))
        elif kind == "tool_call":
            texts.append(f"-> {part.get('name')}({part.get('arguments') or ''})")
        elif kind == "tool_call_response":
            texts.append(f"<- {as_text(part.get('response'))}")
        else:
            texts.append(f"[{kind}]")
    return " ".join(t for t in texts if t)


def _genai_messages(value: Any) -> list[Message] | None:
    value = _loads(value)
    if not isinstance(value, list):
        return None
    out = []
    for message in value:
        if not isinstance(message, dict):
            return None
        out.append(Message(str(message.get("role") or "?"), _parts_text(message.get("parts"))))
    return out


def _openai_message(message: Any) -> Message | None:
    if not isinstance(message, dict) or "role" not in message:
        return None
    content = message.get("content")
    if isinstance(content, list):  # content parts
        text = _parts_text(
            [
                {"type": "text", "content": p.get("text")} if isinstance(p, dict) else p
                for p in content
            ]
        )
    elif content is None:
        text = ""
    else:
        text = str(content)
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {} if isinstance(call, dict) else {}
        calls.append(f"-> {function.get('name')}({function.get('arguments') or ''})")
    if message.get("role") == "tool":
        text = f"<- {text}"
    return Message(str(message["role"]), " ".join(t for t in [text, *calls] if t))


def _openai_messages(
    inputs: Any, outputs: Any
) -> tuple[list[Message] | None, list[Message] | None]:
    """Chat messages from OpenAI-shaped inputs (``messages``) and outputs (``choices``)."""
    ins = None
    if isinstance(inputs, dict) and isinstance(inputs.get("messages"), list):
        parsed = [_openai_message(m) for m in inputs["messages"]]
        if all(p is not None for p in parsed):
            ins = [p for p in parsed if p is not None]
    outs = None
    if isinstance(outputs, dict) and isinstance(outputs.get("choices"), list):
        choices = [c for c in outputs["choices"] if isinstance(c, dict)]
        parsed = [_openai_message(c.get("message")) for c in choices]
        outs = [p for p in parsed if p is not None] or None
    return ins, outs


_LANGCHAIN_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "chat": "user",
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "tool",
    "ChatMessage": "user",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
}


def _langchain_message(message: Any) -> Message | None:
    """A LangChain message: serialized (``{"lc": 1, "id": [..., "AIMessage"], "kwargs"}``) or
    dumped (``{"type": "ai", "content": ...}``)."""
    if not isinstance(message, dict):
        return None
    if message.get("lc") == 1 and isinstance(message.get("kwargs"), dict):
        ids = message.get("id") or []
        role = _LANGCHAIN_ROLES.get(str(ids[-1]) if ids else "", None)
        data = message["kwargs"]
    else:
        role = _LANGCHAIN_ROLES.get(str(message.get("type")), None)
        data = message.get("data") if isinstance(message.get("data"), dict) else message
    if role is None or "content" not in data:
        return None
    content = data.get("content")
    text = content if isinstance(content, str) else as_text(content)
    calls = [
        f"-> {c.get('name')}({json.dumps(c.get('args'))})"
        for c in data.get("tool_calls") or ()
        if isinstance(c, dict)
    ]
    if role == "tool":
        text = f"<- {text}"
    return Message(role, " ".join(x for x in [text, *calls] if x))


def _langchain_messages(
    inputs: Any, outputs: Any
) -> tuple[list[Message] | None, list[Message] | None]:
    """Chat messages from a LangChain chat model's inputs and ``generations``."""
    ins = None
    if isinstance(inputs, dict) and isinstance(inputs.get("messages"), list):
        flat = inputs["messages"]
        if flat and all(isinstance(m, list) for m in flat):  # one list per prompt
            flat = [m for batch in flat for m in batch]
        parsed = [_langchain_message(m) for m in flat]
        if parsed and all(p is not None for p in parsed):
            ins = [p for p in parsed if p is not None]
    outs = None
    if isinstance(outputs, dict) and isinstance(outputs.get("generations"), list):
        found = []
        for batch in outputs["generations"]:
            for gen in batch if isinstance(batch, list) else [batch]:
                if isinstance(gen, dict):
                    msg = _langchain_message(gen.get("message"))
                    if msg is None and isinstance(gen.get("text"), str):
                        msg = Message("assistant", gen["text"])
                    if msg is not None:
                        found.append(msg)
        outs = found or None
    return ins, outs


def _flattened_messages(span: Any, prefix: str) -> list[Message] | None:
    """OpenInference's ``llm.input_messages.N.message.{role,content}`` attributes."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in (span.attributes or {}).items():
        if not key.startswith(prefix + "."):
            continue
        index, _, field = key[len(prefix) + 1 :].partition(".message.")
        if index.isdigit() and field in ("role", "content"):
            found.setdefault(int(index), {})[field] = value
    if not found:
        return None
    return [
        Message(str(found[i].get("role") or "?"), as_text(found[i].get("content") or ""))
        for i in sorted(found)
    ]
