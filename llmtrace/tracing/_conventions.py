"""What a span means, in the conventions other OpenTelemetry backends read.

llmtrace's spans carry MLflow's keys (``mlflow.spanType``, ``mlflow.spanInputs`` ...). Phoenix,
Arize and the OpenInference-aware tools read ``openinference.span.kind``, ``input.value``,
``retrieval.documents.N.document.*`` and ``llm.*`` instead, and GenAI-semconv tools read
``gen_ai.*``. `mirror` adds those, on the export thread, to the attributes `enrich` built, so
every exporter — ``otlp_endpoint``, ``exporters=[...]`` — sees the same meaning. The values are
the JSON texts already made for MLflow (no second serialization); the MLflow exporter leaves
the copies out of the store (`_semconv.LLMTRACE_MIRRORED`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from .. import _semconv as sc

#: MLflow span type -> OpenInference span kind (the nearest one where OpenInference has none).
OPENINFERENCE_KIND = {
    "LLM": "LLM",
    "CHAT_MODEL": "LLM",
    "CHAIN": "CHAIN",
    "AGENT": "AGENT",
    "TOOL": "TOOL",
    "RETRIEVER": "RETRIEVER",
    "EMBEDDING": "EMBEDDING",
    "RERANKER": "RERANKER",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
    "PARSER": "CHAIN",
    "MEMORY": "CHAIN",
    "WORKFLOW": "CHAIN",
    "TASK": "CHAIN",
    "UNKNOWN": "UNKNOWN",
}
_MAX_DOCUMENTS = 100
_MAX_MESSAGES = 50
_JSON = "application/json"


def mirror(attrs: MutableMapping[str, Any], kind: str, documents: Any = None) -> None:
    """Add OpenInference copies of ``attrs``' MLflow keys (never overriding a key set already).

    ``documents`` is a RETRIEVER span's output as MLflow documents (``page_content``,
    ``metadata``, ``id``), if any.

    Example:
        >>> attrs = {"mlflow.spanInputs": '{"q": "hi"}'}
        >>> mirror(attrs, "CHAIN")
        >>> attrs["openinference.span.kind"], attrs["input.value"]
        ('CHAIN', '{"q": "hi"}')
    """
    added: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if key not in attrs and value is not None:
            added[key] = value

    put(sc.OPENINFERENCE_SPAN_KIND, OPENINFERENCE_KIND.get(kind, "UNKNOWN"))
    inputs = attrs.get(sc.MLFLOW_SPAN_INPUTS)
    if isinstance(inputs, str):
        put(sc.INPUT_VALUE, inputs)
        put(sc.INPUT_MIME_TYPE, _JSON)
    outputs = attrs.get(sc.MLFLOW_SPAN_OUTPUTS)
    if isinstance(outputs, str):
        put(sc.OUTPUT_VALUE, outputs)
        put(sc.OUTPUT_MIME_TYPE, _JSON)
    if kind == "RETRIEVER" and isinstance(documents, Sequence) and not isinstance(documents, str):
        for i, doc in enumerate(documents[:_MAX_DOCUMENTS]):
            if isinstance(doc, Mapping):
                _document(put, i, doc)
    if kind in ("LLM", "CHAT_MODEL"):
        _llm(put, attrs)
    if added:
        attrs.update(added)
        attrs[sc.LLMTRACE_MIRRORED] = True


def _document(put: Any, i: int, doc: Mapping[str, Any]) -> None:
    prefix = f"{sc.RETRIEVAL_DOCUMENTS}.{i}.document."
    content = doc.get("page_content")
    put(prefix + "content", content if isinstance(content, str) else _dumps(content))
    if doc.get("id") is not None:
        put(prefix + "id", str(doc["id"]))
    metadata = dict(doc.get("metadata") or {})
    score = metadata.pop("score", None)
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        put(prefix + "score", float(score))
    if metadata:
        put(prefix + "metadata", _dumps(metadata))


def _llm(put: Any, attrs: Mapping[str, Any]) -> None:
    model = attrs.get(sc.GEN_AI_RESPONSE_MODEL) or attrs.get(sc.GEN_AI_REQUEST_MODEL)
    put(sc.LLM_MODEL_NAME, model if isinstance(model, str) else None)
    prompt = attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS)
    completion = attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)
    if isinstance(prompt, int):
        put(sc.LLM_TOKEN_COUNT_PROMPT, prompt)
    if isinstance(completion, int):
        put(sc.LLM_TOKEN_COUNT_COMPLETION, completion)
    if isinstance(prompt, int) and isinstance(completion, int):
        put(sc.LLM_TOKEN_COUNT_TOTAL, prompt + completion)
    inputs = _loads(attrs.get(sc.MLFLOW_SPAN_INPUTS))
    if isinstance(inputs, Mapping):
        _messages(put, sc.LLM_INPUT_MESSAGES, inputs.get("messages"))
    outputs = _loads(attrs.get(sc.MLFLOW_SPAN_OUTPUTS))
    if isinstance(outputs, Mapping) and isinstance(outputs.get("choices"), list):
        replies = [c.get("message") for c in outputs["choices"] if isinstance(c, Mapping)]
        _messages(put, sc.LLM_OUTPUT_MESSAGES, replies)
    elif isinstance(outputs, str):
        _messages(put, sc.LLM_OUTPUT_MESSAGES, [{"role": "assistant", "content": outputs}])


def _messages(put: Any, key: str, messages: Any) -> None:
    if not isinstance(messages, list):
        return
    for i, message in enumerate(messages[:_MAX_MESSAGES]):
        if not isinstance(message, Mapping):
            continue
        prefix = f"{key}.{i}.message."
        if isinstance(message.get("role"), str):
            put(prefix + "role", message["role"])
        content = message.get("content")
        if isinstance(content, str):
            put(prefix + "content", content)
        elif content is not None:
            put(prefix + "content", _dumps(content))


def _loads(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# --- reading spans other instrumentations made ------------------------------------------------

#: OpenInference kinds MLflow's own translation does not know, to the nearest MLflow type.
_FOREIGN_KIND = {"PROMPT": "CHAIN"}
_OI_TO_MLFLOW = {**{k: k for k in OPENINFERENCE_KIND if k != "CHAT_MODEL"}, **_FOREIGN_KIND}
#: GenAI semantic conventions' ``gen_ai.operation.name`` -> MLflow span type.
_GENAI_OPERATION = {
    "chat": "CHAT_MODEL",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
}


def read_foreign(attrs: MutableMapping[str, Any]) -> None:
    """Fill MLflow's keys of a span another instrumentation made, where MLflow's store would not.

    The span type from ``openinference.span.kind`` (PROMPT and other kinds MLflow does not map
    to their nearest type; the kind given is kept as ``llmtrace.span.kind``) or from
    ``gen_ai.operation.name``; a retriever's documents (OpenInference's flattened
    ``retrieval.documents.N.document.*``, or LangChain's ``{"documents": [...]}`` output) as
    MLflow documents in ``mlflow.spanOutputs``, so the views and `evals` read them. Never
    overrides a key already set by the span's maker.

    Example:
        >>> attrs = {"openinference.span.kind": "PROMPT"}
        >>> read_foreign(attrs)
        >>> attrs["mlflow.spanType"]
        'CHAIN'
    """
    kind = attrs.get(sc.OPENINFERENCE_SPAN_KIND)
    mlflow_type: str | None = None
    if isinstance(kind, str) and kind.strip():
        given = kind.strip().upper()
        mlflow_type = _OI_TO_MLFLOW.get(given, "CHAIN" if given != "UNKNOWN" else None)
        if given not in OPENINFERENCE_KIND:  # e.g. PROMPT: kept, as the instrumentor said it
            attrs.setdefault(sc.LLMTRACE_KIND, given)
    else:
        operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
        if isinstance(operation, str):
            mlflow_type = _GENAI_OPERATION.get(operation.strip().lower())
    if mlflow_type is not None and attrs.get(sc.MLFLOW_SPAN_TYPE) in (None, "UNKNOWN"):
        attrs[sc.MLFLOW_SPAN_TYPE] = mlflow_type
    if attrs.get(sc.MLFLOW_SPAN_TYPE) == "RETRIEVER" and sc.MLFLOW_SPAN_OUTPUTS not in attrs:
        documents = _flattened_documents(attrs) or _documents_in_output(attrs.get(sc.OUTPUT_VALUE))
        if documents:
            attrs[sc.MLFLOW_SPAN_OUTPUTS] = _dumps(documents)


def _flattened_documents(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    prefix = sc.RETRIEVAL_DOCUMENTS + "."
    found: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        index, _, field = key[len(prefix) :].partition(".document.")
        if not index.isdigit() or not field:
            continue
        found.setdefault(int(index), {})[field] = value
    documents = []
    for index in sorted(found):
        fields = found[index]
        metadata = _mapping(fields.get("metadata"))
        if isinstance(fields.get("score"), (int, float)):
            metadata["score"] = fields["score"]
        documents.append(
            {
                "page_content": fields.get("content", ""),
                "metadata": metadata,
                "id": None if fields.get("id") is None else str(fields["id"]),
            }
        )
    return documents


def _documents_in_output(value: Any) -> list[dict[str, Any]]:
    data = _mapping(value)
    docs = data.get("documents")
    if not isinstance(docs, list):
        return []
    out = []
    for doc in docs[:_MAX_DOCUMENTS]:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("page_content"), str):
            return []
        out.append(
            {
                "page_content": doc["page_content"],
                "metadata": dict(_mapping(doc.get("metadata"))),
                "id": None if doc.get("id") is None else str(doc["id"]),
            }
        )
    return out


def _mapping(value: Any) -> dict[str, Any]:
    """A dict from a dict, JSON text, or the Python-literal text some instrumentors write."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or not value.startswith("{") or len(value) > 1_000_000:
        return {}
    parsed = _loads(value)
    if parsed is None:
        import ast

        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return {}
    return dict(parsed) if isinstance(parsed, Mapping) else {}


def read_foreign_events(attrs: MutableMapping[str, Any], events: Sequence[Any]) -> None:
    """A reply kept only in older GenAI-semconv ``gen_ai.choice`` events, as MLflow outputs.

    Those events carry the reply as ``message`` (``{"role", "content"}``, JSON text or a map),
    which MLflow's store does not read (it reads a ``content`` attribute only).

    Example:
        >>> read_foreign_events(attrs, span.events)   # gen_ai.choice {"message": {...}}
        >>> attrs["mlflow.spanOutputs"]
        '[{"role": "assistant", "content": "4"}]'
    """
    if sc.MLFLOW_SPAN_OUTPUTS in attrs:
        return
    replies = []
    for event in events:
        if getattr(event, "name", None) != "gen_ai.choice":
            continue
        event_attrs = getattr(event, "attributes", None) or {}
        message = event_attrs.get("message")
        message = _loads(message) if isinstance(message, str) else message
        if isinstance(message, Mapping) and "content" in message:
            replies.append({"role": str(message.get("role") or "assistant"), **message})
        elif event_attrs.get("content") is not None:
            content = event_attrs["content"]
            decoded = _loads(content) if isinstance(content, str) else None
            role = event_attrs.get("role") or "assistant"
            replies.append({"role": str(role), "content": content if decoded is None else decoded})
    if replies:
        attrs[sc.MLFLOW_SPAN_OUTPUTS] = _dumps(replies)
