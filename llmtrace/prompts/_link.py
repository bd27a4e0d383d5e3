"""Mark the current span with the prompt versions it used (see `export._promptlink`)."""

from __future__ import annotations

from .. import _semconv as sc
from .._log import warn_once
from ..export._promptlink import merge_linked_prompts
from ..tracing._span import current_span


def link_to_current_span(name: str, version: str) -> None:
    """Record on the current llmtrace span (if any) that prompt ``name`` v``version`` was used."""
    try:
        handle = current_span()
        if not handle.is_recording:
            return
        otel_span = handle.otel_span
        current = (getattr(otel_span, "attributes", None) or {}).get(sc.MLFLOW_LINKED_PROMPTS)
        merged = merge_linked_prompts(current, name, version)
        otel_span.set_attribute(sc.MLFLOW_LINKED_PROMPTS, merged)
    except Exception as exc:
        warn_once("prompt-link", "llmtrace could not link a prompt to the span: %r", exc)
