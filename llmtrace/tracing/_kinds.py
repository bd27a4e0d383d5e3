"""Span kinds, stored as MLflow span types so the MLflow UI shows them."""

from __future__ import annotations

from enum import Enum

from .._errors import LLMTraceError


class SpanKind(str, Enum):
    """What a span does. The value is the MLflow span type it is stored as.

    Example:
        >>> @llmtrace.trace(kind=llmtrace.SpanKind.RETRIEVER)
        ... def search(query: str) -> list[str]: ...
    """

    LLM = "LLM"
    CHAT_MODEL = "CHAT_MODEL"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"
    RETRIEVER = "RETRIEVER"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    PARSER = "PARSER"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    UNKNOWN = "UNKNOWN"


def to_kind(kind: SpanKind | str | None) -> SpanKind:
    """Return the `SpanKind` for ``kind`` (case-insensitive name), raising a clear error."""
    if kind is None:
        return SpanKind.UNKNOWN
    if isinstance(kind, SpanKind):
        return kind
    if isinstance(kind, str):
        try:
            return SpanKind(kind.upper())
        except ValueError:
            pass
    valid = ", ".join(k.value for k in SpanKind)
    raise LLMTraceError(f"unknown span kind {kind!r}; use one of: {valid}")
