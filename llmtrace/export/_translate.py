"""MLflow's store-time attribute translation, for the key sets llmtrace checked, without MLflow.

`translate_span_when_storing` (mlflow/tracing/otel/translation) runs twelve OTel-schema
translators over every span before the SQL store writes it: span type, inputs/outputs (from
attributes or message events), token usage, tool definitions, model name and provider, cost.
For a span whose attribute keys are all in `covered` -- llmtrace's and MLflow's own keys, the
official OTel GenAI semantic conventions (``gen_ai.*``, attribute and message-event forms) and
OpenInference's -- only three of those translators can find anything (OpenInference, GenAI and,
through the GenAI keys it inherits, LiveKit; Traceloop and Laminar read ``gen_ai.system`` as the
provider), so `translate` computes the same dictionary directly. The one step it leaves to
MLflow is pricing tokens from MLflow's model catalog (`needs_pricing`). Other spans are not
`covered` and take MLflow's own function (the caller's fallback). `tests/export/test_translate.py`
compares `translate` with MLflow's function on generated attribute sets.
"""

from __future__ import annotations

import json
import re
from typing import Any

CHECKED_MLFLOW = ("3.17.",)
"""MLflow releases whose store-time translation, cost step and `log_spans` rows the export
modules follow (`_translate`, `_catalog`, `_sql_rows`, `_sql_direct`, `_sql_bulk`): their tests
compare them with that release's own functions, row by row."""

INPUTS, OUTPUTS = "mlflow.spanInputs", "mlflow.spanOutputs"
SPAN_TYPE, CHAT_USAGE, LLM_COST = "mlflow.spanType", "mlflow.chat.tokenUsage", "mlflow.llm.cost"
MODEL, MODEL_PROVIDER = "mlflow.llm.model", "mlflow.llm.provider"
MESSAGE_FORMAT, CHAT_TOOLS = "mlflow.message.format", "mlflow.chat.tools"

_OPENINFERENCE_TYPES = {
    k: k for k in ("TOOL", "CHAIN", "LLM", "RETRIEVER", "EMBEDDING", "AGENT", "RERANKER")
} | {"UNKNOWN": "UNKNOWN", "GUARDRAIL": "GUARDRAIL", "EVALUATOR": "EVALUATOR"}
_GENAI_TYPES = {
    "chat": "CHAT_MODEL", "create_agent": "AGENT", "embeddings": "EMBEDDING",
    "execute_tool": "TOOL", "generate_content": "LLM", "invoke_agent": "AGENT",
    "text_completion": "LLM", "response": "LLM",
}  # fmt: skip

_COVERED_PREFIXES = ("mlflow.", "llmtrace.", "llm.input_messages.", "llm.output_messages.")
_COVERED_KEYS = frozenset(
    {
        "session.id", "user.id", "server.address", "server.port", "error.type",
        # OpenTelemetry GenAI semantic conventions (gen_ai.agent.name is Gemini CLI's marker)
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system",
        "gen_ai.request.model", "gen_ai.response.model", "gen_ai.response.id",
        "gen_ai.response.finish_reasons", "gen_ai.output.type", "gen_ai.conversation.id",
        "gen_ai.request.temperature", "gen_ai.request.top_p", "gen_ai.request.top_k",
        "gen_ai.request.max_tokens", "gen_ai.request.frequency_penalty",
        "gen_ai.request.presence_penalty", "gen_ai.request.stop_sequences",
        "gen_ai.request.seed", "gen_ai.request.choice.count", "gen_ai.request.encoding_formats",
        "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens", "gen_ai.input.messages",
        "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions",
        "gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.tool.description",
        "gen_ai.tool.type", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
        "gen_ai.embeddings.dimension.count", "gen_ai.agent.id", "gen_ai.agent.description",
        # OpenLLMetry (Traceloop's opentelemetry-instrumentation-openai 0.62) beside those:
        # read by no translator of MLflow 3.17 (its Traceloop one reads traceloop.*,
        # gen_ai.prompt.N.*, gen_ai.completion.N.*, gen_ai.usage.prompt_tokens/completion_tokens
        # and llm.usage.total_tokens, none of them covered)
        "gen_ai.usage.total_tokens", "gen_ai.is_streaming", "gen_ai.openai.api_base",
        "gen_ai.openai.response.system_fingerprint",
        # OpenInference
        "openinference.span.kind", "input.value", "input.mime_type", "output.value",
        "output.mime_type", "llm.model_name", "llm.provider", "llm.system",
        "llm.invocation_parameters", "llm.token_count.prompt", "llm.token_count.completion",
        "llm.token_count.total", "llm.token_count.prompt_details.cache_read",
        "llm.token_count.prompt_details.cache_write", "llm.response.model_name",
        "llm.request.model_name", "embedding.model_name",
    }
)  # fmt: skip
_COVERED_PATTERN = re.compile(r"llm\.(input|output)_messages\.\d+\.message\.(role|content)\Z")
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
}
_UNCOVERED_EVENTS = frozenset({"gen_ai.content.prompt", "gen_ai.content.completion"})
_SKIP_COST_PREFIXES = ("gateway:/", "endpoints:/")


_COVERED_SETS: dict[tuple[tuple[str, ...], tuple[str, ...]], bool] = {}  # memo of `covered`


def covered(keys: Any, event_names: Any) -> bool:
    """True when `translate` equals MLflow's translation for a span with these keys/events
    (memoized: spans of one program repeat a few key sets)."""
    memo_key = (tuple(keys), tuple(event_names))
    found = _COVERED_SETS.get(memo_key)
    if found is None:
        found = _covered(*memo_key)
        if len(_COVERED_SETS) < 10_000:
            _COVERED_SETS[memo_key] = found
    return found


def _covered(keys: tuple[str, ...], event_names: tuple[str, ...]) -> bool:
    for key in keys:
        if key in _COVERED_KEYS:
            continue
        if key.startswith(_COVERED_PREFIXES[:2]):
            continue
        if key.startswith(_COVERED_PREFIXES[2:]) and _COVERED_PATTERN.match(key):
            continue
        return False
    return not any(name in _UNCOVERED_EVENTS for name in event_names)


_PLAIN_JSON_STRING = re.compile(r'"[^"\\\x00-\x1f]*"')
"""A JSON string literal without escapes: it decodes to the text between its quotes."""


def json_string(value: str) -> str | None:
    """``json.loads(value)`` for a JSON string literal without escapes or surrounding
    whitespace (the common case), else None: the caller decodes it the slow way."""
    if _PLAIN_JSON_STRING.fullmatch(value):
        return value[1:-1]
    return None


def sanitize(attributes: dict[str, Any]) -> dict[str, Any]:
    """MLflow's `sanitize_attributes`: one layer of double JSON encoding stripped."""
    out = {}
    for key, value in attributes.items():
        if not isinstance(value, str) or (text := value.lstrip())[:1] != '"':
            out[key] = value  # JSON text of anything but a string (or not JSON): kept as is
            continue
        first = text[1:2]
        if not first or (first not in "{[\\" and not first.isspace()):
            # what it decodes to (if anything) begins with `first`: neither whitespace nor
            # an opening '"', '{' or '[' (a '"' there ends it, empty), so it is kept as is
            out[key] = value
            continue
        try:
            result = json.loads(value)
            if isinstance(result, str) and result.lstrip()[:1] in ('"', "{", "["):
                try:
                    if isinstance(json.loads(result), (str, dict, list)):
                        out[key] = result
                        continue
                except json.JSONDecodeError:
                    pass
        except (json.JSONDecodeError, TypeError):
            pass
        out[key] = value
    return out


def _loads_or_same(value: Any) -> Any:
    if isinstance(value, str):
        if (text := json_string(value)) is not None:
            return text
        try:
            return json.loads(value)
        except (json.JSONDecodeError, TypeError):
            pass
    return value


def _checked(attributes: dict[str, Any], key: str) -> Any:
    """`OtelSchemaTranslator._get_and_check_attribute_value`."""
    value = attributes.get(key)
    if isinstance(value, str):
        if (text := json_string(value)) is not None:
            return value if text else None
        try:
            return value if json.loads(value) else None
        except json.JSONDecodeError:
            pass
    return value


def _first(attributes: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in attributes and (value := _checked(attributes, key)):
            return value
    return None


def _kind(attributes: dict[str, Any], key: str, mapping: dict[str, str]) -> str | None:
    if span_kind := attributes.get(key):
        return mapping.get(_loads_or_same(span_kind))  # TypeError if unhashable, as MLflow's
    return None


def span_type(attributes: dict[str, Any]) -> str | None:
    """`translate_span_type_from_otel` on covered keys (OpenInference, GenAI, LiveKit)."""
    if found := _kind(attributes, "openinference.span.kind", _OPENINFERENCE_TYPES):
        return found
    if found := _kind(attributes, "gen_ai.operation.name", _GENAI_TYPES):
        return found
    if "gen_ai.request.model" in attributes:  # LiveKit's rule
        return "LLM"
    if op := attributes.get("gen_ai.operation.name"):
        return _GENAI_TYPES.get(str(_loads_or_same(op)).lower())
    return None


def _int(value: Any) -> int | None:
    """MLflow's `_parse_int_attribute`."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
            if isinstance(parsed, int):
                return parsed
            if isinstance(parsed, str):
                return int(parsed)
        except (json.JSONDecodeError, ValueError):
            pass
        try:
            return int(value)
        except ValueError:
            pass
    return None


_USAGE_KEYS = (  # (input, output, total, cache read, cache creation[, legacy cache creation])
    (
        "llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total",
        "llm.token_count.prompt_details.cache_read", "llm.token_count.prompt_details.cache_write",
        None,
    ),
    (
        "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", None,
        "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
    ),
)  # fmt: skip


def token_usage(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """`_get_token_usage` on covered keys (OpenInference first, then GenAI)."""
    for in_key, out_key, total_key, read_key, write_key, legacy_key in _USAGE_KEYS:
        input_tokens = _int(attributes.get(in_key))
        output_tokens = _int(attributes.get(out_key))
        total_tokens = _int(attributes.get(total_key)) if total_key else None
        if total_tokens is None and input_tokens is not None and output_tokens is not None:
            total_tokens = input_tokens + output_tokens
        if input_tokens is None and output_tokens is None and total_tokens is None:
            continue
        usage: dict[str, Any] = {}
        if input_tokens is not None:
            usage["input_tokens"] = input_tokens
        if output_tokens is not None:
            usage["output_tokens"] = output_tokens
        if total_tokens is not None:
            usage["total_tokens"] = total_tokens
        if (cache_read := _int(attributes.get(read_key))) is not None:
            usage["cache_read_input_tokens"] = cache_read
        written = attributes.get(write_key)
        if written is None and legacy_key:
            written = attributes.get(legacy_key)
        if (cache_creation := _int(written)) is not None:
            usage["cache_creation_input_tokens"] = cache_creation
        return usage
    return None


def _messages_from_events(events: list[dict[str, Any]], output: bool) -> str | None:
    """GenAI message events (read by MLflow through LiveKit's translator, a GenAI one)."""
    messages = []
    for event in events:
        name, event_attrs = event.get("name", ""), event.get("attributes", {})
        if output:
            if name == "gen_ai.choice" and (content := event_attrs.get("content")):
                role = event_attrs.get("role", "assistant")
                messages.append({"role": _loads_or_same(role), "content": _loads_or_same(content)})
        elif (role := _MESSAGE_EVENTS.get(name)) and (content := event_attrs.get("content")):
            messages.append({"role": role, "content": _loads_or_same(content)})
    return json.dumps(messages) if messages else None


def model_in(value: Any) -> tuple[bool, str | None]:
    """MLflow's model-name fallback on one of inputs/outputs: (decided, model name)."""
    if not value:
        return False, None
    if isinstance(value, str):
        if '"model"' not in value and "\\u" not in value:
            return False, None  # JSON text without a "model" key anywhere (no escapes either)
        try:
            value = json.loads(value)
        except Exception:
            return False, None
    if isinstance(value, dict) and (model := value.get("model")):
        return True, model if isinstance(model, str) else None
    return False, None


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def needs_pricing(attributes: dict[str, Any]) -> bool:
    """Whether MLflow would look the span's model up in its price catalog (`price` does)."""
    if LLM_COST in attributes or CHAT_USAGE not in attributes or MODEL not in attributes:
        return False
    try:
        usage = json.loads(attributes[CHAT_USAGE])
        model = json.loads(attributes[MODEL])
        if MODEL_PROVIDER in attributes:
            json.loads(attributes[MODEL_PROVIDER])
        if not model or not usage or model.startswith(_SKIP_COST_PREFIXES):
            return False
        return not (usage.get("input_tokens", 0) == 0 and usage.get("output_tokens", 0) == 0)
    except Exception:
        return False


def price(attributes: dict[str, Any]) -> bool:
    """MLflow's cost step, for spans that `needs_pricing`: from MLflow's bundled catalog read
    directly (`_catalog`) where that was checked, else through MLflow's own function (which
    imports MLflow; True is returned then)."""
    from ._catalog import Unchecked, cost

    try:
        usage = json.loads(attributes[CHAT_USAGE])
        model = json.loads(attributes[MODEL])
        provider = json.loads(attributes[MODEL_PROVIDER]) if MODEL_PROVIDER in attributes else None
    except Exception:
        return False
    asked_mlflow = False
    try:
        try:
            found = cost(model, usage, provider)
        except Unchecked:
            from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage

            asked_mlflow = True
            found = calculate_cost_by_model_and_token_usage(model, usage, provider)
        if found:
            attributes[LLM_COST] = _dump(found)
    except Exception:
        pass
    return asked_mlflow


def translate(attributes: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The attributes `translate_span_when_storing` stores for a `covered` span, but for the
    cost MLflow prices (`needs_pricing`, then `price`). ``attributes`` are the MLflow span's
    (JSON text values); ``events`` as in `Span.to_dict`."""
    attributes = sanitize(attributes)
    if mlflow_type := span_type(attributes):
        current_raw = attributes.get(SPAN_TYPE)
        current = _loads_or_same(current_raw) if current_raw else None
        if current in (None, "UNKNOWN"):
            attributes[SPAN_TYPE] = _dump(mlflow_type)
    if INPUTS not in attributes and (
        value := _first(attributes, ("input.value", "gen_ai.input.messages"))
        or _first(attributes, ("gen_ai.tool.call.arguments",))
        or (_messages_from_events(events, output=False) if events else None)
    ):
        attributes[INPUTS] = value
    if OUTPUTS not in attributes and (
        value := _first(attributes, ("output.value", "gen_ai.output.messages"))
        or _first(attributes, ("gen_ai.tool.call.result",))
        or (_messages_from_events(events, output=True) if events else None)
    ):
        attributes[OUTPUTS] = value
    if CHAT_USAGE not in attributes and (usage := token_usage(attributes)):
        attributes[CHAT_USAGE] = _dump(usage)
    if CHAT_TOOLS not in attributes and (tools := _first(attributes, ("gen_ai.tool.definitions",))):
        attributes[CHAT_TOOLS] = tools
    if MODEL not in attributes:
        model = None
        for keys in (
            (
                "llm.response.model_name", "llm.model_name", "llm.request.model_name",
                "embedding.model_name",
            ),
            ("gen_ai.response.model", "gen_ai.request.model"),
        ):  # fmt: skip
            if (found := _first(attributes, keys)) and (model := _loads_or_same(found)):
                break
        else:
            decided, model = model_in(attributes.get(INPUTS))
            if not decided:
                decided, model = model_in(attributes.get(OUTPUTS))
        if model:
            attributes[MODEL] = _dump(model)
    if MODEL_PROVIDER not in attributes:
        for key in ("llm.provider", "gen_ai.provider.name", "gen_ai.system"):
            if (found := _checked(attributes, key)) and (provider := _loads_or_same(found)):
                attributes[MODEL_PROVIDER] = _dump(provider)
                break
    return attributes
