"""What a traced OpenAI call records from its result: output, model, id, tokens, cost.

Works on the SDK's objects (``ChatCompletion``, ``Response``, ``CreateEmbeddingResponse``) and
on the plain dicts `_stream` rebuilds from chunks. The caller guards every call: a result this
module cannot read still reaches the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _semconv as sc
from ..tracing._span import SpanHandle
from ._prices import cost_of
from ._request import Api, Deferred, _get, _text_parts, _tool_call_part


def usage_dict(api: Api, usage: Any) -> dict[str, int] | None:
    """Token usage as MLflow's ``{input_tokens, output_tokens, total_tokens[, cache...]}``."""
    if usage is None:
        return None
    if api.api == "responses":
        input_tokens = _get(usage, "input_tokens")
        output_tokens = _get(usage, "output_tokens")
        cached = _get(_get(usage, "input_tokens_details"), "cached_tokens")
    else:
        input_tokens = _get(usage, "prompt_tokens")
        output_tokens = _get(usage, "completion_tokens")
        cached = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
    if not isinstance(input_tokens, int):
        return None
    if not isinstance(output_tokens, int):
        output_tokens = 0
    total = _get(usage, "total_tokens")
    out = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": total if isinstance(total, int) else input_tokens + output_tokens,
    }
    if isinstance(cached, int) and cached:
        out["cache_read_input_tokens"] = cached
    return out


def _responses_finish_reason(response: Any) -> str | None:
    status = _get(response, "status")
    if status == "completed":
        for item in _get(response, "output") or ():
            if _get(item, "type") == "function_call":
                return "tool_calls"
        return "stop"
    if status == "incomplete":
        reason = _get(_get(response, "incomplete_details"), "reason")
        return "length" if reason == "max_output_tokens" else reason or status
    return status


def finish_reasons(api: Api, result: Any) -> list[str]:
    """The finish reason of each choice (``stop``, ``tool_calls``, ``length``...)."""
    if api.api == "responses":
        reason = _responses_finish_reason(result)
        return [reason] if reason else []
    reasons = []
    for choice in _get(result, "choices") or ():
        reason = _get(choice, "finish_reason")
        if isinstance(reason, str):
            reasons.append(reason)
    return reasons


def chat_output_messages(result: Any) -> list[dict[str, Any]]:
    """Chat choices in the GenAI ``gen_ai.output.messages`` shape."""
    out = []
    for choice in _get(result, "choices") or ():
        message = _get(choice, "message")
        parts = _text_parts(_get(message, "content"))
        if _get(message, "refusal"):
            parts.append({"type": "refusal", "content": _get(message, "refusal")})
        parts.extend(_tool_call_part(call) for call in _get(message, "tool_calls") or ())
        out.append(
            {
                "role": _get(message, "role") or "assistant",
                "parts": parts,
                "finish_reason": _get(choice, "finish_reason"),
            }
        )
    return out


def responses_output_messages(result: Any) -> list[dict[str, Any]]:
    """Responses output items as one assistant message in the GenAI output shape."""
    parts: list[dict[str, Any]] = []
    for item in _get(result, "output") or ():
        kind = _get(item, "type")
        if kind == "message":
            parts.extend(_text_parts(_get(item, "content")))
        elif kind == "function_call":
            parts.append(_tool_call_part(item))
        elif kind:
            parts.append({"type": kind})
    return [
        {
            "role": "assistant",
            "parts": parts,
            "finish_reason": _responses_finish_reason(result),
        }
    ]


def embedding_summary(result: Any) -> dict[str, Any]:
    """Embeddings output without the vectors: how many, how long, which model, usage."""
    data = _get(result, "data") or ()
    dims = []
    for item in data:
        vector = _get(item, "embedding")
        dims.append(len(vector) if isinstance(vector, (list, tuple)) else None)
    usage = _get(result, "usage")
    return {
        "model": _get(result, "model"),
        "embeddings": len(dims),
        "dimensions": dims[0] if dims and len(set(dims)) == 1 else dims,
        "usage": {
            "prompt_tokens": _get(usage, "prompt_tokens"),
            "total_tokens": _get(usage, "total_tokens"),
        },
    }


def as_dict(result: Any) -> Any:
    """An SDK object as the API's JSON (``to_dict``), without pydantic's serializer warnings."""
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict) and not isinstance(result, Mapping):
        try:
            return to_dict(warnings=False)
        except TypeError:  # an older SDK without the ``warnings`` argument
            return to_dict()
    return result


def record_result(
    handle: SpanHandle,
    api: Api,
    result: Any,
    request_model: str | None,
    capture_content: bool,
) -> None:
    """Set the output, response attributes, token usage and cost of a finished call."""
    span = handle.otel_span
    model = _get(result, "model")
    response_id = _get(result, "id")
    if isinstance(model, str) and model:
        span.set_attribute(sc.GEN_AI_RESPONSE_MODEL, model)
        span.set_attribute(sc.MLFLOW_LLM_MODEL, model)
    else:
        model = None
    if isinstance(response_id, str) and response_id:
        span.set_attribute(sc.GEN_AI_RESPONSE_ID, response_id)
    request_id = getattr(result, "_request_id", None)
    if isinstance(request_id, str) and request_id:
        span.set_attribute(sc.LLMTRACE_OPENAI_REQUEST_ID, request_id)
    for key, attr in (
        ("system_fingerprint", sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT),
        ("service_tier", sc.OPENAI_RESPONSE_SERVICE_TIER),
    ):
        value = _get(result, key)
        if isinstance(value, str):
            span.set_attribute(attr, value)

    if api.api == "embeddings":
        usage = usage_dict(api, _get(result, "usage"))
        handle.set_outputs(Deferred(embedding_summary, result))
        data = _get(result, "data") or ()
        if data:
            vector = _get(data[0], "embedding")
            if isinstance(vector, (list, tuple)):
                span.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))
    else:
        usage = usage_dict(api, _get(result, "usage"))
        handle.set_outputs(Deferred(as_dict, result))
        reasons = finish_reasons(api, result)
        if reasons:
            span.set_attribute(sc.GEN_AI_RESPONSE_FINISH_REASONS, reasons)
        if capture_content:
            convert = responses_output_messages if api.api == "responses" else chat_output_messages
            handle.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, Deferred(convert, result))
    if usage is not None:
        record_usage(handle, usage, (model, request_model))


def record_usage(
    handle: SpanHandle, usage: Mapping[str, int], models: tuple[str | None, ...]
) -> None:
    """Token counts (GenAI and MLflow keys) and, when the model's price is known, the cost."""
    span = handle.otel_span
    span.set_attribute(sc.GEN_AI_USAGE_INPUT_TOKENS, usage["input_tokens"])
    span.set_attribute(sc.GEN_AI_USAGE_OUTPUT_TOKENS, usage["output_tokens"])
    if "cache_read_input_tokens" in usage:
        span.set_attribute(
            sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage["cache_read_input_tokens"]
        )
    handle.set_attribute(sc.MLFLOW_CHAT_USAGE, dict(usage))
    cost = cost_of(models, usage)
    if cost is not None:
        handle.set_attribute(sc.MLFLOW_LLM_COST, cost)
        span.set_attribute(sc.LLMTRACE_LLM_COST_USD, cost["total_cost"])
