"""Link traces to the MLflow run that was active when they began.

A trace's root span is stamped with the active run's id (`LLMTRACE_RUN_ID`) when it starts;
once the exporter has stored the spans, it links those traces to their run with MLflow's
``link_traces_to_run`` (what the MLflow server itself does for OTLP spans sent with an
``x-mlflow-run-id`` header). MLflow then finds them with ``search_traces(run_id=...)``, the
filter ``metadata.`mlflow.sourceRun` = '<run id>'`` and the run page's Traces tab.

"Active" follows MLflow's own tracer: the latest run started (by `llmtrace.start_run` or
`mlflow.start_run`) in any thread of the process. Nothing here imports MLflow: with MLflow not
imported yet, no run can be active.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from .. import _semconv as sc
from .._log import warn_once

logger = logging.getLogger("llmtrace")

#: MLflow links at most this many traces per ``link_traces_to_run`` call.
MAX_LINKS_PER_CALL = 100
LINK_PATH = "/api/2.0/mlflow/traces/link-to-run"


def active_run_id() -> str | None:
    """The id of the MLflow run active now (latest started, any thread), or None. Never raises."""
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is None:
        return None
    try:
        latest = getattr(fluent, "_get_latest_active_run", None) or fluent.active_run
        run = latest()
        return str(run.info.run_id) if run is not None else None
    except Exception as exc:  # a changed MLflow internals: trace on, unlinked
        logger.debug("llmtrace could not read MLflow's active run: %r", exc)
        return None


def runs_of(spans: Iterable[Any]) -> dict[str, list[str]]:
    """Trace ids by run id, from the stamped root spans among these `mlflow.entities.Span`."""
    by_run: dict[str, list[str]] = {}
    for span in spans:
        run_id = span.get_attribute(sc.LLMTRACE_RUN_ID)
        if isinstance(run_id, str) and run_id:
            traces = by_run.setdefault(run_id, [])
            if span.trace_id not in traces:
                traces.append(span.trace_id)
    return by_run


def link_to_runs(spans: Iterable[Any], link: Callable[[list[str], str], Any]) -> None:
    """Call ``link(trace_ids, run_id)`` for the stamped traces among ``spans``.

    Runs after the spans are stored. A failure (run deleted, run in another store...) is
    logged — a warning the first time — and never fails the export: the traces stay stored,
    just unlinked.
    """
    try:
        for run_id, trace_ids in runs_of(spans).items():
            for i in range(0, len(trace_ids), MAX_LINKS_PER_CALL):
                link(trace_ids[i : i + MAX_LINKS_PER_CALL], run_id)
    except Exception as exc:
        warn_once(
            "link-run",
            "llmtrace stored traces but could not link them to their MLflow run: %s",
            exc,
        )


def http_linker(
    session: Any, tracking_uri: str, timeout_s: float
) -> Callable[[list[str], str], None]:
    """A ``link`` function for an MLflow server, using the exporter's HTTP session."""
    url = tracking_uri.rstrip("/") + LINK_PATH

    def link(trace_ids: list[str], run_id: str) -> None:
        response = session.post(
            url, json={"trace_ids": trace_ids, "run_id": run_id}, timeout=timeout_s
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"MLflow server answered HTTP {response.status_code}: {response.text[:200]}"
            )

    return link
