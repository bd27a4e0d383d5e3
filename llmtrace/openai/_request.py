"""What a traced OpenAI call records before it is sent: inputs, parameters, client facts.

Only cheap work happens here on the caller's thread (picking keyword arguments, shallow copies);
format conversions (tool definitions, GenAI input messages) are deferred to the export thread
through `Deferred`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import _semconv as sc
from ..tracing._kinds import SpanKind
from ..tracing._payload import snapshot


@dataclass(frozen=True)
class Api:
    """One traced OpenAI method: which API it calls and how its span is named and typed."""

    api: str
    """``chat.completions``, ``responses`` or ``embeddings``."""
    method: str
    """``create`` or ``parse``."""
    operation: str
    """The GenAI operation name: ``chat`` or ``embeddings``."""
    kind: SpanKind

    @property
    def qualname(self) -> str:
        """e.g. ``chat.completions.create``."""
        return f"{self.api}.{self.method}"


CHAT_CREATE = Api("chat.completions", "create", "chat", SpanKind.LLM)
CHAT_PARSE = Api("chat.completions", "parse", "chat", SpanKind.LLM)
RESPONSES_CREATE = Api("responses", "create", "chat", SpanKind.LLM)
RESPONSES_PARSE = Api("responses", "parse", "chat", SpanKind.LLM)
EMBEDDINGS_CREATE = Api("embeddings", "create", "embeddings", SpanKind.EMBEDDING)


class Deferred:
    """A value computed on the export thread (the serializer calls `to_dict`)."""

    __slots__ = ("arg", "fn")

    def __init__(self, fn: Callable[[Any], Any], arg: Any) -> None:
        self.fn = fn
        self.arg = arg

    def to_dict(self) -> Any:
        """Compute the value (called by llmtrace's serializer)."""
        return self.fn(self.arg)

    def __repr__(self) -> str:
        return "<not recorded: conversion failed>"


def given(value: Any) -> bool:
    """False for OpenAI's ``omit`` / ``NOT_GIVEN`` sentinels (and None)."""
    return value is not None and type(value).__name__ not in ("Omit", "NotGiven")


# Keyword arguments that are transport, not request: never recorded.
_NOT_INPUTS = frozenset({"extra_headers", "timeout"})

# keyword argument -> GenAI attribute, for primitive request parameters
_PARAMS: dict[str, str] = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "n": sc.GEN_AI_REQUEST_CHOICE_COUNT,
    "service_tier": sc.OPENAI_REQUEST_SERVICE_TIER,
}
_PRIMITIVE = (str, bool, int, float)


def _schema_ref(value: Any) -> Any:
    """A pydantic class given as ``response_format``/``text_format``: record its name only."""
    if isinstance(value, type):
        return {"type": "json_schema", "name": value.__name__}
    return snapshot(value)


def request_inputs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The call's keyword arguments as the span's inputs (sentinels and transport left out).

    Top-level lists are copied, so a ``messages`` list the caller appends to after the call is
    stored as it was sent.
    """
    inputs: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _NOT_INPUTS or not given(value):
            continue
        if key in ("response_format", "text_format"):
            inputs[key] = _schema_ref(value)
        else:
            inputs[key] = snapshot(value)
    return inputs


def _output_type(kwargs: Mapping[str, Any]) -> str | None:
    fmt = kwargs.get("response_format")
    if not given(fmt):
        text = kwargs.get("text")
        fmt = text.get("format") if isinstance(text, Mapping) else None
        if given(kwargs.get("text_format")):
            return "json"
    if isinstance(fmt, type):
        return "json"
    if isinstance(fmt, Mapping):
        kind = fmt.get("type")
        return "json" if kind in ("json_object", "json_schema") else "text" if kind else None
    return None


def request_attributes(api: Api, kwargs: Mapping[str, Any], client: ClientInfo) -> dict[str, Any]:
    """Primitive attributes known before the call: model, parameters, provider, server."""
    model = kwargs.get("model")
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: api.operation,
        sc.GEN_AI_SYSTEM: client.system,
        sc.GEN_AI_PROVIDER_NAME: client.provider_name,
        sc.MLFLOW_LLM_PROVIDER: client.mlflow_provider,
        sc.LLMTRACE_OPENAI_API: api.api,
    }
    if api.kind is SpanKind.LLM:
        attrs[sc.MLFLOW_MESSAGE_FORMAT] = "openai"
        attrs[sc.LLMTRACE_LLM_STREAM] = kwargs.get("stream") is True
    if isinstance(model, str):
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
        attrs[sc.MLFLOW_LLM_MODEL] = model
    if client.host:
        attrs[sc.SERVER_ADDRESS] = client.host
        if client.port:
            attrs[sc.SERVER_PORT] = client.port
    for key, attr in _PARAMS.items():
        value = kwargs.get(key)
        if isinstance(value, _PRIMITIVE):
            attrs[attr] = value
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
    encoding = kwargs.get("encoding_format")
    if isinstance(encoding, str):
        attrs[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
    output_type = _output_type(kwargs)
    if output_type is not None:
        attrs[sc.GEN_AI_OUTPUT_TYPE] = output_type
    return attrs


# --- client facts (cached per client object) ----------------------------------------------


@dataclass(frozen=True)
class ClientInfo:
    """What llmtrace records about the client (never its credentials)."""

    system: str
    provider_name: str
    mlflow_provider: str
    host: str | None
    port: int | None


_OPENAI = ClientInfo("openai", "openai", "openai", None, None)
_clients: weakref.WeakKeyDictionary[Any, ClientInfo] = weakref.WeakKeyDictionary()


def client_info(client: Any) -> ClientInfo:
    """Provider and server of an OpenAI client (``openai`` or Azure), cached per client."""
    try:
        return _clients[client]
    except (KeyError, TypeError):
        pass
    info = _OPENAI
    try:
        import openai

        azure = isinstance(client, (openai.AzureOpenAI, openai.AsyncAzureOpenAI))
        url = getattr(client, "base_url", None)
        host = getattr(url, "host", None) or None
        port = getattr(url, "port", None)
        if azure:
            info = ClientInfo("az.ai.openai", "azure.ai.openai", "azure", host, port)
        else:
            info = ClientInfo("openai", "openai", "openai", host, port)
        _clients[client] = info
    except Exception:  # an unusual client object: record the defaults
        pass
    return info


def client_secrets(client: Any) -> tuple[str, ...]:
    """The literal credentials a client holds, to scrub from error messages."""
    found = []
    for name in (
        "api_key",
        "admin_api_key",
        "organization",
        "project",
        "webhook_secret",
        "_azure_ad_token",
    ):
        try:
            value = getattr(client, name, None)
        except Exception:
            continue
        if isinstance(value, str) and len(value) >= 6:
            found.append(value)
    return tuple(found)


# --- conversions run on the export thread (through Deferred) -----------------------------


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


_BUILTIN_TOOLS = frozenset(
    {
        "file_search",
        "web_search",
        "web_search_preview",
        "computer_use_preview",
        "code_interpreter",
        "image_generation",
        "local_shell",
        "mcp",
    }
)


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Tools of a chat or Responses request as MLflow ``ChatTool`` dicts (``mlflow.chat.tools``)."""
    out: list[dict[str, Any]] = []
    for tool in tools or ():
        kind = _get(tool, "type", "function")
        function = _get(tool, "function")
        if function is not None:  # chat completions style
            definition = {
                k: _get(function, k) for k in ("name", "description", "parameters", "strict")
            }
        elif kind == "function":  # Responses API style: flat
            definition = {k: _get(tool, k) for k in ("name", "description", "parameters", "strict")}
        else:  # built-in tools (web_search, file_search...) or custom ones
            definition = {"name": _get(tool, "name") or kind}
            if kind not in _BUILTIN_TOOLS and _get(tool, "description"):
                definition["description"] = _get(tool, "description")
        out.append(
            {"type": "function", "function": {k: v for k, v in definition.items() if v is not None}}
        )
    return out


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts = []
    for part in content:
        kind = _get(part, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": _get(part, "text")})
        elif kind == "refusal":
            parts.append({"type": "refusal", "content": _get(part, "refusal")})
        else:  # images, audio, files: the kind only (no payloads)
            parts.append({"type": kind or "unknown"})
    return parts


def _tool_call_part(call: Any) -> dict[str, Any]:
    """A chat ``tool_calls`` entry or a Responses ``function_call`` item as a GenAI part."""
    if _get(call, "type") == "function_call":  # Responses API: flat, its id is ``call_id``
        return {
            "type": "tool_call",
            "id": _get(call, "call_id"),
            "name": _get(call, "name"),
            "arguments": _get(call, "arguments"),
        }
    function = _get(call, "function")
    return {
        "type": "tool_call",
        "id": _get(call, "id"),
        "name": _get(function, "name"),
        "arguments": _get(function, "arguments"),
    }


def chat_input_messages(messages: Any) -> list[dict[str, Any]]:
    """Chat ``messages`` in the GenAI ``gen_ai.input.messages`` shape (role + parts)."""
    out = []
    for message in messages or ():
        role = _get(message, "role")
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": _get(message, "tool_call_id"),
                    "response": _get(message, "content"),
                }
            ]
        else:
            parts = _text_parts(_get(message, "content"))
            parts.extend(_tool_call_part(call) for call in _get(message, "tool_calls") or ())
        out.append({"role": role, "parts": parts})
    return out


def responses_input_messages(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Responses ``input`` (a string or a list of items) in the GenAI input-messages shape."""
    items = inputs.get("input")
    if isinstance(items, str):
        return [{"role": "user", "parts": [{"type": "text", "content": items}]}]
    out = []
    for item in items or ():
        kind = _get(item, "type")
        if kind == "function_call_output":
            part = {
                "type": "tool_call_response",
                "id": _get(item, "call_id"),
                "response": _get(item, "output"),
            }
            out.append({"role": "tool", "parts": [part]})
        elif kind == "function_call":
            out.append({"role": "assistant", "parts": [_tool_call_part(item)]})
        elif _get(item, "role") is not None:
            out.append({"role": _get(item, "role"), "parts": _text_parts(_get(item, "content"))})
        else:
            out.append({"role": "unknown", "parts": [{"type": kind or "unknown"}]})
    return out
