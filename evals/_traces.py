"""Read what `evaluate` needs out of an MLflow `Trace`: question, answer, contexts, tool calls.

The rules, applied to traces made by llmtrace (or MLflow's own tracer):

- question: the root span's inputs — a string as it is; from a dict, the value under
  ``question``/``query``/``input``/``prompt``/``user_input``/``message``/``text``, else its only
  string value, else the last user message of ``messages``; anything else as JSON text.
- answer: the root span's outputs — a string as it is; from a dict, the value under
  ``answer``/``output``/``response``/``content``/``text``/``result``, or a chat completion's
  first message; anything else unchanged.
- contexts: the documents output by RETRIEVER spans, in start order, each document once
  (``page_content``, or ``content``/``text``); context ids from each document's ``id``, or its
  metadata ``doc_uri``/``id``/``doc_id`` (only when every document has one).
- tool calls: TOOL spans in start order, ``{"name": span name, "arguments": span inputs}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from llmtrace import semconv as sc
from llmtrace.views import as_text

_QUESTION_KEYS = ("question", "query", "input", "prompt", "user_input", "message", "text")
_ANSWER_KEYS = ("answer", "output", "response", "content", "text", "result")
_DOC_TEXT_KEYS = ("page_content", "content", "text")
_DOC_ID_KEYS = ("doc_uri", "id", "doc_id")
#: Span types counted as agent steps by default.
STEP_TYPES = ("LLM", "CHAT_MODEL", "TOOL")


def spans_in_order(trace: Any) -> list[Any]:
    """The trace's spans by start time."""
    return sorted(trace.data.spans, key=lambda s: s.start_time_ns or 0)


def root_span(trace: Any) -> Any | None:
    """The span without a parent (the first one started, if several)."""
    roots = [s for s in spans_in_order(trace) if s.parent_id is None]
    return roots[0] if roots else None


def question_of(inputs: Any) -> str | None:
    """The question in a root span's inputs (see the module rules)."""
    if inputs is None or isinstance(inputs, str):
        return inputs
    if isinstance(inputs, Mapping):
        for key in _QUESTION_KEYS:
            if isinstance(inputs.get(key), str):
                return str(inputs[key])
        strings = [v for v in inputs.values() if isinstance(v, str)]
        if len(strings) == 1:
            return strings[0]
        messages = inputs.get("messages")
        if isinstance(messages, list):
            users = [
                m.get("content")
                for m in messages
                if isinstance(m, Mapping) and m.get("role") == "user"
            ]
            if users and isinstance(users[-1], str):
                return users[-1]
    return as_text(inputs)


def answer_of(outputs: Any) -> Any:
    """The answer in a root span's outputs (see the module rules)."""
    if isinstance(outputs, Mapping):
        for key in _ANSWER_KEYS:
            if isinstance(outputs.get(key), str):
                return outputs[key]
        choices = outputs.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            message = choices[0].get("message")
            if isinstance(message, Mapping) and isinstance(message.get("content"), str):
                return message["content"]
    return outputs


def document_text(doc: Any) -> str | None:
    """The text of one retrieved document (a string, or a dict with page_content/content/text)."""
    if isinstance(doc, str):
        return doc
    if isinstance(doc, Mapping):
        for key in _DOC_TEXT_KEYS:
            if isinstance(doc.get(key), str):
                return str(doc[key])
    return None


def document_id(doc: Any) -> str | None:
    """The id of one retrieved document: ``id``, or metadata ``doc_uri``/``id``/``doc_id``."""
    if not isinstance(doc, Mapping):
        return None
    if doc.get("id") not in (None, ""):
        return str(doc["id"])
    metadata = doc.get("metadata")
    if isinstance(metadata, Mapping):
        for key in _DOC_ID_KEYS:
            if metadata.get(key) not in (None, ""):
                return str(metadata[key])
    for key in ("doc_uri", "doc_id"):
        if doc.get(key) not in (None, ""):
            return str(doc[key])
    return None


def split_documents(docs: Iterable[Any]) -> tuple[list[str], list[str] | None]:
    """(texts, ids) of documents; ids only when every document has one."""
    texts: list[str] = []
    ids: list[str | None] = []
    for doc in docs:
        text = document_text(doc)
        if text is None:
            text = as_text(doc)
        texts.append(text)
        ids.append(document_id(doc))
    if all(i is not None for i in ids):  # nothing retrieved: no ids either
        return texts, [str(i) for i in ids]
    return texts, None


def retrieved(trace: Any) -> tuple[list[str], list[str] | None]:
    """(contexts, context ids) of every RETRIEVER span, in order, each document once."""
    docs: list[Any] = []
    seen: set[str] = set()
    for span in spans_in_order(trace):
        if span.span_type != "RETRIEVER" or not isinstance(span.outputs, list):
            continue
        for doc in span.outputs:
            key = as_text(doc)
            if key not in seen:
                seen.add(key)
                docs.append(doc)
    return split_documents(docs)


def tool_calls(trace: Any) -> list[dict[str, Any]]:
    """The TOOL spans as calls, in start order: ``{"name", "arguments"}``."""
    calls = []
    for span in spans_in_order(trace):
        if span.span_type == "TOOL":
            inputs = span.inputs
            arguments = (
                dict(inputs)
                if isinstance(inputs, Mapping)
                else ({} if inputs is None else {"input": inputs})
            )
            calls.append({"name": span.name, "arguments": arguments})
    return calls


def fields(trace: Any) -> dict[str, Any]:
    """Row fields read from a trace: question, answer, contexts, context_ids, tool_calls, ids."""
    root = root_span(trace)
    contexts, context_ids = retrieved(trace)
    has_retriever = any(s.span_type == "RETRIEVER" for s in trace.data.spans)
    found: dict[str, Any] = {
        "trace_id": trace.info.trace_id,
        "trace": trace,
        "tool_calls": tool_calls(trace),
        "contexts": contexts if has_retriever else None,
        "context_ids": context_ids if has_retriever else None,
    }
    if root is not None:
        found["question"] = question_of(root.inputs)
        found["answer"] = answer_of(root.outputs)
        found["inputs"] = root.inputs
    return found


# -- numbers of a trace: latency, cost, tokens, steps ----------------------------------------
def latency_s(trace: Any) -> float | None:
    """Seconds from the root span's start to its end (else the trace's execution duration)."""
    root = root_span(trace)
    if root is not None and root.start_time_ns and root.end_time_ns:
        return (root.end_time_ns - root.start_time_ns) / 1e9
    duration = getattr(trace.info, "execution_duration", None)
    return duration / 1000 if duration is not None else None


def _as_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return dict(value) if isinstance(value, Mapping) else None


def cost_usd(trace: Any) -> float | None:
    """USD spent by the trace's LLM calls (``mlflow.llm.cost`` per span, else the trace's)."""
    total, found = 0.0, False
    for span in trace.data.spans:
        attrs = span.attributes or {}
        cost = _as_dict(attrs.get(sc.MLFLOW_LLM_COST))
        if cost is not None and isinstance(cost.get("total_cost"), (int, float)):
            total += float(cost["total_cost"])
            found = True
        elif isinstance(attrs.get(sc.LLMTRACE_LLM_COST_USD), (int, float)):
            total += float(attrs[sc.LLMTRACE_LLM_COST_USD])
            found = True
    if found:
        return total
    info_cost = _as_dict(getattr(trace.info, "cost", None))
    if info_cost is not None and isinstance(info_cost.get("total_cost"), (int, float)):
        return float(info_cost["total_cost"])
    return None


def token_usage(trace: Any) -> dict[str, int] | None:
    """Input, output and total tokens of the trace (MLflow's sum, else the spans' own)."""
    usage = _as_dict(getattr(trace.info, "token_usage", None))
    if usage:
        return {k: int(v) for k, v in usage.items() if isinstance(v, (int, float))}
    totals: dict[str, int] = {}
    for span in trace.data.spans:
        span_usage = _as_dict((span.attributes or {}).get(sc.MLFLOW_CHAT_USAGE))
        for key, value in (span_usage or {}).items():
            if isinstance(value, (int, float)):
                totals[key] = totals.get(key, 0) + int(value)
    return totals or None


def count_spans(trace: Any, span_types: Iterable[str]) -> int:
    """How many spans of these types (``LLM``, ``TOOL``...) the trace has."""
    wanted = {t.upper() for t in span_types}
    return sum(1 for s in trace.data.spans if (s.span_type or "").upper() in wanted)
