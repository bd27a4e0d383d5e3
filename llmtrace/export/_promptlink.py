"""Link stored traces to the prompt versions they used (after the exporter stored them).

When a prompt is loaded or formatted inside a traced span, the prompts layer gives the span
MLflow's ``mlflow.linkedPrompts`` attribute (a JSON list of ``{name, version}``, as MLflow's own
tracer writes it; see `merge_linked_prompts`). Once the exporter has stored the spans,
`link_stored` tells MLflow: a trace tag ``mlflow.linkedPrompts`` (shown on the trace) and a
trace-to-prompt-version link (so ``search_traces("prompt = 'name/1'")`` and the prompt's page
find the trace). This is store work, like `_runlink`: it reads span attributes only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from .. import _semconv as sc
from .._log import warn_once

logger = logging.getLogger("llmtrace")


def merge_linked_prompts(current: Any, name: str, version: str) -> str:
    """``current`` (JSON list or None) with ``{name, version}`` added once, as JSON."""
    entries = []
    if isinstance(current, str):
        try:
            loaded = json.loads(current)
            if isinstance(loaded, list):
                entries = loaded
        except ValueError:
            pass
    entry = {"name": name, "version": version}
    if entry not in entries:
        entries.append(entry)
    return json.dumps(entries)


def prompts_by_trace(spans: Iterable[Any]) -> dict[str, list[tuple[str, str]]]:
    """``{trace_id: [(name, version), ...]}`` from stored `mlflow.entities.Span` objects."""
    found: dict[str, list[tuple[str, str]]] = {}
    for span in spans:
        value = span.get_attribute(sc.MLFLOW_LINKED_PROMPTS)
        if value is None:
            continue
        try:
            entries = json.loads(value) if isinstance(value, str) else value
            refs = found.setdefault(span.trace_id, [])
            for entry in entries:
                ref = (str(entry["name"]), str(entry["version"]))
                if ref not in refs:
                    refs.append(ref)
        except Exception as exc:
            logger.debug("unreadable %s on a span: %r", sc.MLFLOW_LINKED_PROMPTS, exc)
    return found


def link_stored(spans: Iterable[Any], get_store: Callable[[], Any]) -> None:
    """After ``spans`` are stored, link their traces to the prompt versions they used.

    ``get_store()`` gives MLflow's tracking store (SQL or REST); it is only called when some
    span used a prompt. Never raises: a failure is logged (a warning the first time) and the
    traces stay stored, unlinked.
    """
    try:
        by_trace = prompts_by_trace(spans)
        if not by_trace:
            return
        from mlflow.entities.model_registry import PromptVersion
        from mlflow.tracing.constant import TraceTagKey

        store = get_store()
        for trace_id, refs in by_trace.items():
            versions = [PromptVersion(name, int(version), template="") for name, version in refs]
            store.link_prompts_to_trace(trace_id, versions)
            info = store.get_trace_info(trace_id)
            current = info.tags.get(TraceTagKey.LINKED_PROMPTS)
            merged = current
            for name, version in refs:
                merged = merge_linked_prompts(merged, name, version)
            if merged != current:
                store.set_trace_tag(trace_id, TraceTagKey.LINKED_PROMPTS, merged)
    except Exception as exc:
        warn_once(
            "link-prompts",
            "llmtrace stored traces but could not link them to their prompts: %s",
            exc,
        )
